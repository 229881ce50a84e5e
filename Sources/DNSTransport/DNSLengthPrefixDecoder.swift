import NIOCore

/// Splits a TCP stream into DNS messages by their two-octet length prefix (RFC 1035 4.2.2, RFC 7766 8).
/// Used by the forwarder's client connections and by the DNS door's server connections.
public struct DNSLengthPrefixDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

extension ByteBuffer {
    /// Writes a DNS message with its TCP length prefix.
    public mutating func writeLengthPrefixedDNSMessage(_ bytes: some Collection<UInt8>) {
        writeInteger(UInt16(truncatingIfNeeded: bytes.count))
        writeBytes(bytes)
    }
}
