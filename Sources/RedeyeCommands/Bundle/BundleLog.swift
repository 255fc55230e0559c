import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service
import Text

extension BundleCommand {
    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log",
            abstract: "List the versions (tags) of a bundle repository.",
            discussion: """
                EXAMPLES:
                  redeye bundle log --repo web.git
                """ + ExitStatus.section())

        @Option(help: "The bundle repository (path).") var repo: String
        @Flag(help: "Print the versions as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let repository = try BundleRepository(path: repo, create: false)
                let tags = try repository.repository.tags().sorted {
                    ($0.tagger?.time ?? 0, $0.name) < ($1.tagger?.time ?? 0, $1.name)
                }
                if json {
                    struct Version: Encodable {
                        var tag: String; var commit: String; var message: String?; var time: Int64?
                    }
                    try printJSON(
                        tags.map {
                            Version(
                                tag: $0.name, commit: $0.commit.hex,
                                message: $0.message?.trimmedNewlines(), time: $0.tagger?.time)
                        })
                    return
                }
                for tag in tags {
                    let when =
                        tag.tagger.map {
                            iso8601(Date(timeIntervalSince1970: TimeInterval($0.time)))
                        } ?? ""
                    print(
                        "\(tag.name)  \(tag.commit.short)  \(when)  \(tag.message?.split(separator: "\n").first ?? "")")
                }
            }
        }
    }
}
