import CZlib
import FileSystem
import Glibc

/// A gzip stream (zlib's deflate with gzip framing) written to a file descriptor as input arrives: one owning
/// type for one `z_stream`.
final class GzipWriter: CompressedStreamWriter {
    private var stream = z_stream()
    private let fd: Int32
    private let display: String
    private var output = [UInt8](repeating: 0, count: 1 << 18)
    private var finished = false
    private(set) var bytesIn = 0
    private(set) var bytesOut = 0

    init(fd: Int32, display: String, level: Int32 = 6) throws(ImageError) {
        self.fd = fd
        self.display = display
        let status = czlib_gzip_init(&stream, level)
        guard status == Z_OK else { throw ImageError("zlib: cannot start a gzip stream (\(status))") }
    }

    deinit { deflateEnd(&stream) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        bytesIn += bytes.count
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(bytes.count)
        try pump(flush: Z_NO_FLUSH)
    }

    func finish() throws {
        guard !finished else { return }
        stream.next_in = nil
        stream.avail_in = 0
        try pump(flush: Z_FINISH)
        finished = true
    }

    private func pump(flush: Int32) throws {
        while true {
            let status = output.withUnsafeMutableBytes { buffer -> Int32 in
                stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(buffer.count)
                return deflate(&stream, flush)
            }
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw ImageError("zlib: deflate failed (\(status))")
            }
            let produced = output.count - Int(stream.avail_out)
            if produced > 0 {
                try output.withUnsafeBytes {
                    try writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<produced]), display: display)
                }
                bytesOut += produced
            }
            if flush == Z_FINISH ? status == Z_STREAM_END : (stream.avail_in == 0 && stream.avail_out > 0) { return }
        }
    }
}
