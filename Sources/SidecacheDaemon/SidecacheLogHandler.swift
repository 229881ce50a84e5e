import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's log level, shared by every logger and changeable at run time (a reload sets it).
public final class LogLevelControl: Sendable {
    private let raw: Atomic<Int>
    private static let levels = Logger.Level.allCases

    public init(_ level: Logger.Level) { raw = Atomic(Self.levels.firstIndex(of: level) ?? 2) }

    public var level: Logger.Level {
        get { Self.levels[raw.load(ordering: .relaxed)] }
        set { raw.store(Self.levels.firstIndex(of: newValue) ?? 2, ordering: .relaxed) }
    }
}

/// Keeps a flood of one warning or error from drowning the log: per (logger, message), at most `burst` lines per
/// `window`; the first line of the next window says how many were suppressed. Lines below warning pass untouched
/// (debug lines are off unless asked for).
public final class LogRateLimiter: Sendable {
    struct Window {
        var start: Int64
        var logged: Int
        var suppressed: Int
    }

    let burst: Int
    let windowNanoseconds: Int64
    private let windows = Mutex<[String: Window]>([:])
    private let now: @Sendable () -> Int64

    public init(burst: Int = 10, windowSeconds: Int = 10, now: (@Sendable () -> Int64)? = nil) {
        self.burst = burst
        windowNanoseconds = Int64(windowSeconds) * 1_000_000_000
        self.now = now ?? {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        }
    }

    /// nil: drop the line; otherwise log it, with the count suppressed before it (0 mostly).
    public func admit(_ key: String) -> Int? {
        let time = now()
        return windows.withLock { windows in
            var window = windows[key] ?? Window(start: time, logged: 0, suppressed: 0)
            var carried = 0
            if time - window.start >= windowNanoseconds {
                carried = window.suppressed
                window = Window(start: time, logged: 0, suppressed: 0)
            }
            if window.logged >= burst {
                window.suppressed += 1
                windows[key] = window
                return nil
            }
            window.logged += 1
            windows[key] = window
            if windows.count > 4096 { windows = windows.filter { time - $0.value.start < windowNanoseconds } }
            return carried
        }
    }
}

/// StreamLogHandler (one line per event on standard error) with the shared, live log level and rate-limited
/// warnings and errors.
public struct SidecacheLogHandler: LogHandler {
    private var stream: StreamLogHandler
    private let label: String
    private let control: LogLevelControl
    private let limiter: LogRateLimiter

    public init(label: String, control: LogLevelControl, limiter: LogRateLimiter, stream: StreamLogHandler? = nil) {
        self.label = label
        self.control = control
        self.limiter = limiter
        self.stream = stream ?? StreamLogHandler.standardError(label: label)
        self.stream.logLevel = .trace
    }

    public var logLevel: Logger.Level {
        get { control.level }
        set { control.level = newValue }
    }

    public var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        if event.level >= .warning {
            guard let suppressed = limiter.admit(label + "\u{0}" + event.message.description) else { return }
            if suppressed > 0 {
                var metadata = event.metadata ?? [:]
                metadata["suppressed"] = "\(suppressed)"
                event.metadata = metadata
            }
        }
        stream.log(event: event)
    }
}
