import Logging
import SidecacheDaemon
import Synchronization
import Testing

/// Log lines: the live level, and warnings/errors rate-limited per message.
struct LoggingTests {
    final class Clock: Sendable {
        let nanoseconds = Atomic<Int64>(0)
        func advance(seconds: Int64) { nanoseconds.wrappingAdd(seconds * 1_000_000_000, ordering: .relaxed) }
    }

    @Test func floodOfOneMessageIsCutToTheBurstAndTheNextWindowSaysHowManyWereDropped() {
        let clock = Clock()
        let limiter = LogRateLimiter(burst: 3, windowSeconds: 10, now: { clock.nanoseconds.load(ordering: .relaxed) })
        let first = (0..<100).map { _ in limiter.admit("upstream timed out") }
        #expect(first.prefix(3).allSatisfy { $0 == 0 })
        #expect(first.dropFirst(3).allSatisfy { $0 == nil })
        // Another message has its own budget.
        #expect(limiter.admit("socket error") == 0)
        clock.advance(seconds: 10)
        #expect(limiter.admit("upstream timed out") == 97)
        #expect(limiter.admit("upstream timed out") == 0)
    }

    @Test func handlerDropsTheFloodAndCarriesTheCount() {
        let clock = Clock()
        let limiter = LogRateLimiter(burst: 2, windowSeconds: 10, now: { clock.nanoseconds.load(ordering: .relaxed) })
        let control = LogLevelControl(.info)
        let lines = Mutex<[String]>([])
        let logger = Logger(label: "test") { label in
            SidecacheLogHandler(
                label: label, control: control, limiter: limiter,
                stream: StreamLogHandler(label: label, stream: Capture(lines: { line in lines.withLock { $0.append(line) } })))
        }
        for _ in 0..<50 { logger.error("send failed") }
        for _ in 0..<5 { logger.info("not limited") }
        logger.debug("below the level")
        #expect(lines.withLock { $0.filter { $0.contains("send failed") }.count } == 2)
        #expect(lines.withLock { $0.filter { $0.contains("not limited") }.count } == 5)
        #expect(lines.withLock { !$0.contains { $0.contains("below the level") } })
        clock.advance(seconds: 11)
        logger.error("send failed")
        #expect(lines.withLock { $0.last?.contains("suppressed=48") ?? false }, "\(lines.withLock { $0 })")
        // The level is shared and live: a reload lowers it for every logger.
        control.level = .debug
        logger.debug("now shown")
        #expect(lines.withLock { $0.last?.contains("now shown") ?? false })
    }

    struct Capture: TextOutputStream, Sendable {
        let lines: @Sendable (String) -> Void
        mutating func write(_ string: String) { lines(string) }
    }
}
