import Foundation
import SwiftletFormat

/// Reads a Hugging Face `tokenizer.json` into the `tokenizer.*` metadata a model carries
/// (`swiftlet convert --tokenizer`). Only what Swiftlet's tokenizer computes exactly is accepted —
/// byte-level BPE as GPT-2, GPT-NeoX and Pythia use — and anything else is refused naming the field,
/// never approximated.
public enum TokenizerJSON {
    /// The metadata of the tokenizer at `path`, and warnings (parts that change nothing Swiftlet does).
    public static func metadata(path: String) throws -> (values: [String: MetadataValue], warnings: [String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvertError("cannot read the tokenizer file \(path)")
        }
        do {
            return try data.withUnsafeBytes { try metadata(json: OrderedJSON.parse($0)) }
        } catch let e as ConvertError {
            throw ConvertError("\(path): \(e.message)")
        } catch {
            throw ConvertError("\(path): \(error)")
        }
    }

    static func metadata(json: OrderedJSON) throws -> (values: [String: MetadataValue], warnings: [String]) {
        typealias K = TokenizerSchema.Key
        var warnings: [String] = []
        let root = try object(json, "the file")
        let model = try object(root["model"] ?? .null, "model")
        guard case .string("BPE")? = model["type"] else {
            throw ConvertError("model.type is \(describe(model["type"])); Swiftlet reads byte-level BPE tokenizers")
        }
        for field in ["dropout", "continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[field], !isNullOrEmpty(v) {
                throw ConvertError("model.\(field) is \(describe(v)); Swiftlet's BPE has none")
            }
        }
        if case .bool(true)? = model["byte_fallback"] {
            throw ConvertError("model.byte_fallback is true; Swiftlet reads byte-level BPE, which needs no fallback")
        }
        var ignoreMerges = false
        if case .bool(let b)? = model["ignore_merges"] { ignoreMerges = b }

        // Normalizer: none or NFC (alone or as the only member of a sequence).
        var normalizer = TokenizerSchema.Normalizer.none
        var normalizers: [OrderedJSON] = []
        if let n = root["normalizer"], !isNull(n) {
            let o = try object(n, "normalizer")
            if case .string("Sequence")? = o["type"], case .array(let list)? = o["normalizers"] {
                normalizers = list
            } else {
                normalizers = [n]
            }
        }
        for n in normalizers {
            let o = try object(n, "normalizer")
            guard case .string("NFC")? = o["type"], normalizers.count == 1 else {
                throw ConvertError(
                    "normalizer \(describe(o["type"])) is not one Swiftlet computes (it reads none or NFC)")
            }
            normalizer = .nfc
        }

        // Pre-tokenizer: ByteLevel with GPT-2's split.
        let pre = try object(root["pre_tokenizer"] ?? .null, "pre_tokenizer")
        guard case .string("ByteLevel")? = pre["type"] else {
            throw ConvertError(
                "pre_tokenizer.type is \(describe(pre["type"])); Swiftlet reads the ByteLevel pre-tokenizer (GPT-2's split)"
            )
        }
        if case .bool(false)? = pre["use_regex"] {
            throw ConvertError("pre_tokenizer.use_regex is false; Swiftlet splits words with GPT-2's pattern")
        }
        var addPrefixSpace = false
        if case .bool(let b)? = pre["add_prefix_space"] { addPrefixSpace = b }
        if let d = root["decoder"], !isNull(d) {
            guard case .string("ByteLevel")? = try object(d, "decoder")["type"] else {
                throw ConvertError(
                    "decoder.type is \(describe(try object(d, "decoder")["type"])); Swiftlet decodes ByteLevel")
            }
        } else {
            throw ConvertError("the file has no decoder; Swiftlet decodes ByteLevel tokens")
        }
        if let p = root["post_processor"], !isNull(p),
            case .string(let type)? = try object(p, "post_processor")["type"],
            type != "ByteLevel"
        {
            warnings.append(
                "post_processor \(type) is not applied: swl_tokenize gives the text's tokens only, as encode(text, add_special_tokens=False)"
            )
        }

        // Ids: the vocabulary and the added tokens, which must leave no gap.
        var byID: [Int: String] = [:]
        guard case .object(let vocab)? = model["vocab"] else { throw ConvertError("model.vocab is missing") }
        for (token, id) in vocab {
            guard case .int(let i) = id, i >= 0, i < TokenizerSchema.maxTokens else {
                throw ConvertError("model.vocab['\(token)'] is \(describe(id)), not a token id")
            }
            guard byID[i] == nil else { throw ConvertError("model.vocab gives id \(i) to two tokens") }
            byID[i] = token
        }
        var addedIDs: [Int64] = []
        var addedFlags: [Int64] = []
        if case .array(let added)? = root["added_tokens"] {
            for a in added {
                let o = try object(a, "added_tokens[]")
                guard case .int(let id)? = o["id"], id >= 0, id < TokenizerSchema.maxTokens,
                    case .string(let content)? = o["content"], !content.isEmpty
                else { throw ConvertError("an entry of added_tokens has no id or content") }
                for field in ["lstrip", "rstrip", "single_word"] {
                    if case .bool(true)? = o[field] {
                        throw ConvertError(
                            "added token '\(content)' sets \(field), which Swiftlet does not implement")
                    }
                }
                byID[id] = content
                var flags: Int64 = 0
                if case .bool(true)? = o["special"] { flags |= TokenizerSchema.AddedFlag.special }
                if case .bool(true)? = o["normalized"] { flags |= TokenizerSchema.AddedFlag.normalized }
                addedIDs.append(Int64(id))
                addedFlags.append(flags)
            }
        }
        let count = (byID.keys.max() ?? -1) + 1
        guard count > 0 else { throw ConvertError("model.vocab is empty") }
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for i in 0..<count {
            guard let t = byID[i] else { throw ConvertError("no token has id \(i) (ids must run from 0 without gaps)") }
            tokens.append(t)
        }
        if let unk = model["unk_token"], !isNull(unk) {
            // Unused when every byte has its token; otherwise the package would emit it and Swiftlet not.
            let alphabet = Set(tokens)
            let missing = (0..<256).filter { !alphabet.contains(String(byteCharacter(UInt8($0)))) }
            if !missing.isEmpty {
                throw ConvertError(
                    "model.unk_token is set and \(missing.count) bytes have no token; Swiftlet drops such bytes instead"
                )
            }
        }

        var merges: [String] = []
        if case .array(let list)? = model["merges"] {
            merges.reserveCapacity(list.count)
            for (i, m) in list.enumerated() {
                switch m {
                case .string(let s): merges.append(s)
                case .array(let pair):
                    guard pair.count == 2, case .string(let a) = pair[0], case .string(let b) = pair[1],
                        !a.contains(" "), !b.contains(" ")
                    else { throw ConvertError("model.merges[\(i)] is not a pair of tokens") }
                    merges.append(a + " " + b)
                default: throw ConvertError("model.merges[\(i)] is \(describe(m))")
                }
            }
        }

        var values: [String: MetadataValue] = [
            K.model: .string(TokenizerSchema.Model.byteLevelBPE.rawValue),
            K.tokens: .strings(tokens),
            K.merges: .strings(merges),
            K.normalizer: .string(normalizer.rawValue),
            K.addPrefixSpace: .bool(addPrefixSpace),
            K.ignoreMerges: .bool(ignoreMerges),
        ]
        if !addedIDs.isEmpty {
            values[K.addedIDs] = .ints(addedIDs)
            values[K.addedFlags] = .ints(addedFlags)
        }
        return (values, warnings)
    }

    /// GPT-2's character for a byte (printable Latin-1 stands for itself; the rest from U+0100 on).
    static func byteCharacter(_ b: UInt8) -> Unicode.Scalar {
        func own(_ x: UInt8) -> Bool {
            (0x21...0x7E).contains(x) || (0xA1...0xAC).contains(x) || (0xAE...0xFF).contains(x)
        }
        if own(b) { return Unicode.Scalar(b) }
        let before = (0..<Int(b)).filter { !own(UInt8($0)) }.count
        return Unicode.Scalar(UInt32(256 + before))!
    }

    private static func object(_ v: OrderedJSON, _ what: String) throws -> [String: OrderedJSON] {
        guard case .object(let pairs) = v else { throw ConvertError("\(what) is \(v.kind), not an object") }
        var out: [String: OrderedJSON] = [:]
        for (k, value) in pairs { out[k] = value }
        return out
    }

    private static func isNull(_ v: OrderedJSON) -> Bool {
        if case .null = v { return true }
        return false
    }

    private static func isNullOrEmpty(_ v: OrderedJSON) -> Bool {
        switch v {
        case .null: return true
        case .string(let s): return s.isEmpty
        default: return false
        }
    }

    private static func describe(_ v: OrderedJSON?) -> String {
        switch v {
        case nil: return "missing"
        case .string(let s)?: return "'\(s)'"
        case .int(let i)?: return String(i)
        case .double(let d)?: return String(d)
        case .bool(let b)?: return String(b)
        case let other?: return other.kind
        }
    }
}
