import CZstd
import FileSystem
import Glibc

/// How the initramfs is compressed; the kernel unpacks either (CONFIG_RD_ZSTD, CONFIG_RD_GZIP). zstd makes the
/// smaller image (14.8 MB against 18.9 MB for the bench's) and the kernel unpacks it about as fast; gzip builds
/// in a fifth of the time.
public enum InitramfsCompression: String, Sendable, CaseIterable {
    case zstd
    case gzip

    /// The initramfs's name in the output directory (and in boot.ipxe).
    public var fileName: String {
        switch self {
        case .zstd: "initrd.zst"
        case .gzip: "initrd.gz"
        }
    }

    /// Refuses at once when the compressor cannot run here (before the build writes anything).
    func checkAvailable() throws(ImageError) {
        if self == .zstd { try ZstdWriter.checkLibrary() }
    }

    func writer(fd: Int32, display: String) throws(ImageError) -> any CompressedStreamWriter {
        switch self {
        case .zstd: try ZstdWriter(fd: fd, display: display)
        case .gzip: try GzipWriter(fd: fd, display: display)
        }
    }
}

/// A compressed stream written to a file descriptor as its input arrives.
protocol CompressedStreamWriter: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    func finish() throws
    /// Compressed bytes written so far.
    var bytesOut: Int { get }
}

/// A zstd frame (level 19, long-distance matching over a 64 MB window, a content checksum) written to a file
/// descriptor: one owning type for one `ZSTD_CCtx` and the libzstd it was made by. Single-threaded on purpose:
/// libzstd's workers split the input into jobs of four windows, so an initramfs is one job anyway, and smaller
/// jobs cost size (16 MB jobs: 14.91 MB, 20 s on 2 cores, against 14.76 MB, 24 s).
final class ZstdWriter: CompressedStreamWriter {
    /// 2^26: the window the kernel's unzstd allocates while it unpacks (64 MB, freed before init runs; a
    /// 256 MB machine boots it). Long-distance matching over it finds the libraries' code the agent repeats.
    /// Measured on the image of `make bench` (47 MB unpacked): 2^23 15.17 MB, 2^24 15.11 MB, 2^26 14.76 MB.
    static let windowLog: Int32 = 26
    private var library: czstd_library
    private let context: OpaquePointer
    private let fd: Int32
    private let display: String
    private var output = [UInt8](repeating: 0, count: 1 << 18)
    private var finished = false
    private(set) var bytesOut = 0

    /// libzstd opened and closed again: whether a writer can be made.
    static func checkLibrary() throws(ImageError) {
        var library = czstd_library()
        try open(&library)
        czstd_close(&library)
    }

    private static func open(_ library: inout czstd_library) throws(ImageError) {
        guard let failure = czstd_open(&library) else { return }
        let message = String(cString: failure)
        czstd_close(&library)
        throw ImageError("zstd: \(message) (apt-get install libzstd1, or build with --compression gzip)")
    }

    init(fd: Int32, display: String, level: Int32 = 19) throws(ImageError) {
        // Made and configured in locals first: a throw after every stored property is set would run deinit,
        // which frees the context and closes the library a second time.
        var library = czstd_library()
        try Self.open(&library)
        guard let context = library.createCCtx() else {
            czstd_close(&library)
            throw ImageError("zstd: cannot make a compression context (out of memory?)")
        }
        for (parameter, value) in [
            (ZSTD_c_compressionLevel, level), (ZSTD_c_windowLog, Self.windowLog),
            (ZSTD_c_enableLongDistanceMatching, 1), (ZSTD_c_checksumFlag, 1),
        ] {
            let status = library.setParameter(context, parameter, value)
            guard library.isError(status) == 0 else {
                let message = Self.errorName(status, library)
                _ = library.freeCCtx(context)
                czstd_close(&library)
                throw ImageError("zstd: cannot set parameter \(parameter.rawValue) to \(value): \(message)")
            }
        }
        self.library = library
        self.context = context
        self.fd = fd
        self.display = display
    }

    private static func errorName(_ status: Int, _ library: czstd_library) -> String {
        library.getErrorName(status).map { String(cString: $0) } ?? "error \(status)"
    }

    deinit {
        _ = library.freeCCtx(context)
        czstd_close(&library)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try pump(bytes, end: false)
    }

    func finish() throws {
        guard !finished else { return }
        try pump(UnsafeRawBufferPointer(start: nil, count: 0), end: true)
        finished = true
    }

    private func pump(_ bytes: UnsafeRawBufferPointer, end: Bool) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        // Bounded: every call consumes input or produces output, and the frame ends once both are done.
        while true {
            var produced = 0
            let remaining = output.withUnsafeMutableBytes { buffer -> Int in
                var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let status = library.compressStream2(context, &out, &input, end ? ZSTD_e_end : ZSTD_e_continue)
                produced = out.pos
                return status
            }
            guard library.isError(remaining) == 0 else {
                throw ImageError("zstd: compression failed: \(Self.errorName(remaining, library))")
            }
            if produced > 0 {
                try output.withUnsafeBytes {
                    try writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<produced]), display: display)
                }
                bytesOut += produced
            }
            if end ? remaining == 0 : input.pos == input.size { return }
        }
    }
}
