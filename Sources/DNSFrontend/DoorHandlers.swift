import DNSTransport
import NIOCore

/// The UDP listener of one event loop.
final class UDPDoorHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let door: DNSDoor
    private var needsFlush = false

    init(door: DNSDoor) { self.door = door }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let remote = envelope.remoteAddress
        let channel = context.channel
        door.statistics.bump(door.statistics.udpQueries)
        let outcome = envelope.data.withUnsafeReadableBytes { bytes in
            door.handle(bytes, overUDP: true, allocator: context.channel.allocator, eventLoop: context.eventLoop) { reply in
                // A miss answered later, from the door's task: write and flush through the channel.
                let buffer = channel.allocator.buffer(bytes: reply)
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: buffer), promise: nil)
            }
        }
        if case .reply(let buffer) = outcome {
            // Reply now; flushed once per read burst in channelReadComplete.
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: buffer)), promise: nil)
            needsFlush = true
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A failed send (ICMP from a client that went away) must not close the listener.
    }
}

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
        let outcome = message.withUnsafeReadableBytes { bytes in
            door.handle(bytes, overUDP: false, allocator: context.channel.allocator, eventLoop: context.eventLoop) { reply in
                var buffer = channel.allocator.buffer(capacity: reply.count + 2)
                buffer.writeLengthPrefixedDNSMessage(reply)
                channel.writeAndFlush(buffer, promise: nil)
            }
        }
        if case .reply(let buffer) = outcome {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
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
