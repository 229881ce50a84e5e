import ArgumentParser

/// `sidecache-inject [inject options] FILE...` or `sidecache-inject webhook [settings]`. The first word picks the
/// command, so the injector's command line stays exactly as it was (CI and users call it with options first).
@main
enum Entry {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "webhook" {
            await WebhookCommand.run(Array(arguments.dropFirst()))
        } else {
            InjectCommand.main(arguments)
        }
    }
}
