/// Reads SSH wire-format fields (RFC 4251): uint32, string, mpint.
struct SSHReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { offset >= bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int) throws(SigningError) -> [UInt8] {
        guard n >= 0, n <= remaining else {
            throw SigningError("truncated data (wanted \(n) bytes, \(remaining) left)")
        }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    mutating func uint32() throws(SigningError) -> UInt32 {
        let b = try take(4)
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    mutating func string() throws(SigningError) -> [UInt8] {
        try take(Int(try uint32()))
    }

    mutating func text() throws(SigningError) -> String {
        String(decoding: try string(), as: UTF8.self)
    }

    /// An mpint as unsigned big-endian bytes without leading zeros.
    mutating func mpint() throws(SigningError) -> [UInt8] {
        Array(try string().drop { $0 == 0 })
    }
}

/// Writes SSH wire-format fields.
struct SSHWriter {
    private(set) var bytes: [UInt8] = []

    mutating func raw(_ b: [UInt8]) { bytes += b }

    mutating func uint32(_ v: UInt32) {
        bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }

    mutating func string(_ b: [UInt8]) {
        uint32(UInt32(b.count))
        bytes += b
    }

    mutating func string(_ s: String) { string(Array(s.utf8)) }

    /// An unsigned big-endian integer as an mpint: no leading zeros, a 0x00 when the top bit is set.
    mutating func mpint(_ magnitude: [UInt8]) {
        var m = Array(magnitude.drop { $0 == 0 })
        if let first = m.first, first & 0x80 != 0 { m.insert(0, at: 0) }
        string(m)
    }
}
