import Bundles
import Foundation
import Git
import SSH
import TLS
import TestSupport
import Testing

/// https:// bundle repositories through Redeye's TLS stream (the system OpenSSL), from a real git server
/// (`git http-backend` behind TLS) with a CA the test makes: installed when the certificate verifies for the
/// host asked for; refused, with the reason and nothing installed, for an unknown CA, another host's certificate,
/// an expired one, a self-signed one, and plain http; a token is sent only as basic authentication.
@Suite(.serialized) struct HTTPSTests {
    struct Lab {
        let world: InstallWorld
        let ca: TestCA
        let root: String

        init() throws {
            world = try InstallWorld()
            ca = try TestCA(in: world.dir)
            // The server's root holds the bundle repository; http-backend runs as this user.
            root = world.dir + "/srv"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: world.repo, toPath: root + "/web.git")
        }

        func server(_ certificate: (certificate: String, key: String), token: String? = nil) throws -> TestHTTPSGit {
            try TestHTTPSGit(root: root, certificate: certificate.certificate, key: certificate.key, token: token)
        }

        func install(_ url: String, caFile: String?, token: String? = nil) -> (BundleInstaller.Outcome?, String?) {
            var installer = world.installer
            installer.https = HTTPSTransport(trust: TLSTrust(caFile: caFile), token: token)
            do {
                return (try installer.install(repository: url, ref: "v1"), nil)
            } catch {
                return (nil, "\(error)")
            }
        }
    }

    @Test func aVerifiedServerServesTheBundleAndEveryBadCertificateIsRefused() throws {
        let lab = try Lab()
        defer { lab.world.remove() }
        let good = try lab.server(try lab.ca.issue("server", for: ["localhost", "127.0.0.1"]))
        defer { good.stop() }

        // Without the private CA (the system store only): refused, saying why.
        let (none, unknown) = lab.install(good.url("web.git"), caFile: nil)
        #expect(none == nil)
        #expect(
            unknown?.contains("is not trusted: unable to get local issuer certificate") == true, "\(unknown ?? "")")
        #expect(unknown?.contains("--ca-file") == true, "\(unknown ?? "")")
        #expect(lab.world.installer.currentRelease() == nil)

        // Another CA than the server's.
        let other = try TestCA(in: lab.world.dir, name: "other")
        let (_, wrongCA) = lab.install(good.url("web.git"), caFile: other.certificate)
        #expect(wrongCA?.contains("unable to get local issuer certificate") == true, "\(wrongCA ?? "")")

        // The right CA: by address and by name.
        let (installed, error) = lab.install(good.url("web.git"), caFile: lab.ca.certificate)
        #expect(error == nil, "\(error ?? "")")
        #expect(installed?.filesWritten == 2)
        #expect(try lab.world.installer.audit().isEmpty)
        let (_, byName) = lab.install(good.url("web.git", host: "localhost"), caFile: lab.ca.certificate)
        #expect(byName == nil, "\(byName ?? "")")
        #expect(good.requests.contains { $0.hasPrefix("POST /web.git/git-upload-pack 200") }, "\(good.requests)")

        for (name, certificate, reason) in [
            ("another host's", try lab.ca.issue("elsewhere", for: ["git.example.org"]), "IP address mismatch"),
            (
                "an expired",
                try lab.ca.issue(
                    "expired", for: ["127.0.0.1"], notBefore: "20200101000000Z",
                    notAfter: "20200102000000Z"), "certificate has expired"
            ),
            ("a self-signed", try TestCA.selfSigned(in: lab.world.dir, "self", for: ["127.0.0.1"]), "self-signed"),
        ] {
            let server = try lab.server(certificate)
            defer { server.stop() }
            let (outcome, refusal) = lab.install(server.url("web.git"), caFile: lab.ca.certificate)
            #expect(outcome == nil, "\(name) certificate was accepted")
            #expect(refusal?.contains(reason) == true, "\(name): \(refusal ?? "")")
            #expect(server.requests.isEmpty, "\(name): a request went out: \(server.requests)")
        }
        // A name the certificate does not carry.
        let misnamed = try lab.server(try lab.ca.issue("named", for: ["git.example.org", "127.0.0.1"]))
        defer { misnamed.stop() }
        let (_, wrongName) = lab.install(misnamed.url("web.git", host: "localhost"), caFile: lab.ca.certificate)
        #expect(wrongName?.contains("hostname mismatch") == true, "\(wrongName ?? "")")

        // The pin holds over https as over ssh and file: v2 under a ref pinned to v1 (a moved tag) is refused.
        let pinned = try BundleVersion.fetch(
            lab.world.repo, ref: "v1", cache: lab.world.dir + "/local.git", hostKeys: HostKeyPolicy(files: []),
            sshKey: nil
        ).pin
        let moved = failure {
            _ = try BundleVersion.fetch(
                good.url("web.git"), ref: "v2", cache: lab.world.dir + "/moved.git", hostKeys: HostKeyPolicy(files: []),
                sshKey: nil, https: HTTPSTransport(trust: TLSTrust(caFile: lab.ca.certificate)), pin: pinned)
        }
        #expect(moved?.contains("but the signed plans pin it to \(pinned.commit.prefix(12))") == true, "\(moved ?? "")")

        // Plain http never leaves the machine.
        let (_, plain) = lab.install("http://127.0.0.1:\(good.port)/web.git", caFile: lab.ca.certificate)
        #expect(plain?.contains("plain http:// is refused") == true, "\(plain ?? "")")
        #expect(lab.world.leftovers().isEmpty)
    }

    @Test func aTokenIsSentOnlyAsBasicAuthentication() throws {
        let lab = try Lab()
        defer { lab.world.remove() }
        let server = try lab.server(try lab.ca.issue("server", for: ["127.0.0.1"]), token: "s3cret-token")
        defer { server.stop() }
        let (_, missing) = lab.install(server.url("web.git"), caFile: lab.ca.certificate)
        #expect(missing?.contains("the server asks for credentials: give a token") == true, "\(missing ?? "")")
        let (_, wrong) = lab.install(server.url("web.git"), caFile: lab.ca.certificate, token: "guess")
        #expect(wrong?.contains("the server refused the token") == true, "\(wrong ?? "")")
        #expect(wrong?.contains("guess") == false)
        let (installed, error) = lab.install(server.url("web.git"), caFile: lab.ca.certificate, token: "s3cret-token")
        #expect(error == nil, "\(error ?? "")")
        #expect(installed?.filesWritten == 2)
        #expect(!server.requests.contains { $0.contains("s3cret") })
    }
}
