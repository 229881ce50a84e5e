/// Settings of the nscd door. Defaults are documented in docs/configuration.md.
public struct NSCDFrontendConfiguration: Sendable {
    /// Where glibc looks: compiled into libc as /var/run/nscd/socket, so only tests and odd set-ups change it.
    public var socketPath: String
    /// Threads running the blocking accept loop.
    public var acceptThreads: Int
    /// How long a connection may take to send its request before it is closed.
    public var readDeadlineMilliseconds: Int64
    /// Connections still sending their request, at most; past it new slow ones are closed (the client falls back).
    public var maximumSlowConnections: Int
    /// Lookups waiting on the upstream at most; past it a miss is refused (the client resolves by itself).
    public var maximumPendingLookups: Int

    public init(
        socketPath: String = "/var/run/nscd/socket", acceptThreads: Int = 2, readDeadlineMilliseconds: Int64 = 1000,
        maximumSlowConnections: Int = 4096, maximumPendingLookups: Int = 4096
    ) {
        self.socketPath = socketPath
        self.acceptThreads = acceptThreads
        self.readDeadlineMilliseconds = readDeadlineMilliseconds
        self.maximumSlowConnections = maximumSlowConnections
        self.maximumPendingLookups = maximumPendingLookups
    }
}
