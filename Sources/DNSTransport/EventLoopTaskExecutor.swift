import NIOCore

/// Runs Swift tasks on one NIO event loop's thread (SE-0417 task executor preference).
///
/// A cold lookup is a chain of hand-overs: the door's task asks the engine, the forwarder writes on an event loop,
/// the reply arrives on that loop, the task resumes, the next search candidate goes out. Each hand-over between the
/// cooperative pool and a loop thread is a thread wake-up, measured at tens of microseconds each on this kind of
/// machine and several per upstream try. A task that prefers the loop its forwarder tries run on (the forwarder
/// picks the current loop, `EventLoopGroup.any()`) resumes there without changing threads. Only non-blocking work
/// may run this way: anything that blocks would hold up the loop's sockets.
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
