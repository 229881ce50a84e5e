import DNSTransport
import NIOCore

/// One TCP client connection: queries may be pipelined; replies go out as they are ready (RFC 7766 6.2.1.1).
final class TCPDoorHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let door: DNSDoor
    private var counted = false

    init(door: DNSDoor) { self.door = door }

    func channelActive(context: ChannelHandlerContext) {
        let open = door.statistics.tcpConnections.wrappingAdd(1, ordering: .relaxed).newValue
        counted = true
        if open > door.configuration.maximumTCPConnections {
            door.statistics.bump(door.statistics.tcpRefused)
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { door.statistics.tcpConnections.wrappingSubtract(1, ordering: .relaxed) }
        counted = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        let channel = context.channel
        door.statistics.bump(door.statistics.tcpQueries)
        let reply: ByteBuffer? = message.withUnsafeReadableBytes { packet in
            // The entry is taken out of the lock and rendered after it, into a buffer of its size.
            let disposition = door.dispose(packet, overUDP: false, debug: door.logger.logLevel <= .debug) {
                entry, now, seed, request, _ in (entry, now, seed, request)
            }
            switch disposition {
            case .drop:
                return nil
            case .reply(let reply):
                door.statistics.replies.record(
                    udp: false, type: DNSDoor.questionType(of: packet), rcode: DNSDoor.responseCode(of: reply))
                return Self.framed(reply, allocator: channel.allocator)
            case .hit(let (entry, now, seed, request), let type, let rcode):
                door.statistics.replies.record(udp: false, type: type, rcode: rcode)
                return DNSResponder.writeLengthPrefixed(
                    entry, now: now, seed: seed, for: request, packet: packet, allocator: channel.allocator)
            case .miss(let request, let limit):
                let immediate = door.enqueue(
                    request, limit: limit, packet: packet, client: ClientAddress(channel.remoteAddress),
                    eventLoop: context.eventLoop
                ) { reply in
                    // A miss answered later, from the door's task.
                    channel.writeAndFlush(Self.framed(reply, allocator: channel.allocator), promise: nil)
                }
                guard let immediate else { return nil }
                door.statistics.replies.record(
                    udp: false, type: request.key.type, rcode: DNSDoor.responseCode(of: immediate))
                return Self.framed(immediate, allocator: channel.allocator)
            }
        }
        if let reply {
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        }
    }

    /// A door-made reply with its two-octet length prefix.
    static func framed(_ reply: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: reply.count + 2)
        buffer.writeLengthPrefixedDNSMessage(reply)
        return buffer
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            door.statistics.bump(door.statistics.tcpIdleClosed)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
