import SidecacheDaemon
import Testing

/// The shared-map settings: on by default, off by flag or variable, and their values checked.
struct SharedMapSettingsTests {
    @Test func onByDefaultWithItsDocumentedValues() throws {
        let configuration = try SidecacheConfiguration.resolve(flags: [:], environment: [:])
        let map = try #require(configuration.sharedMap)
        #expect(map.path == "/run/sidecache/hosts.map")
        #expect(map.dataSize == 8 << 20)
        #expect(map.rotationPeriod == 100_000_000)
    }

    @Test func flagsAndVariablesSetIt() throws {
        let off = try SidecacheConfiguration.resolve(flags: [:], environment: ["SIDECACHE_SHARED_MAP": "off"])
        #expect(off.sharedMap == nil)
        let flags = try SidecacheConfiguration.parseFlags([
            "--shared-map-file", "/run/x/map", "--shared-map-size", "1MiB", "--shared-map-rotation", "250ms",
        ])
        let set = try SidecacheConfiguration.resolve(flags: flags, environment: ["SIDECACHE_SHARED_MAP_ROTATION": "0"])
        #expect(set.sharedMap?.path == "/run/x/map")
        #expect(set.sharedMap?.dataSize == 1 << 20)
        #expect(set.sharedMap?.rotationPeriod == 250_000_000, "the flag wins over the variable")
        let noRotation = try SidecacheConfiguration.resolve(flags: [:], environment: ["SIDECACHE_SHARED_MAP_ROTATION": "0"])
        #expect(noRotation.sharedMap?.rotationPeriod == 0)
    }

    @Test(arguments: [
        (["--shared-map", "sometimes"], "shared-map"),
        (["--shared-map-file", "relative/map"], "shared-map-file"),
        (["--shared-map-size", "4KiB"], "shared-map-size"),
        (["--shared-map-size", "2GiB"], "shared-map-size"),
        (["--shared-map-rotation", "500us"], "shared-map-rotation"),
    ])
    func badValuesNameTheSetting(arguments: [String], setting: String) throws {
        #expect {
            _ = try SidecacheConfiguration.resolve(flags: try SidecacheConfiguration.parseFlags(arguments), environment: [:])
        } throws: { error in
            (error as? ConfigurationError)?.setting == setting
        }
    }
}
