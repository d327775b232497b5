import SwiftletFormat
import Testing

// Reference values computed with the xxHash project's libxxhash 0.8.1 (XXH64), not with this code.
@Suite struct XXH64Tests {
    @Test(
        arguments: [
            ("", 0, 0xEF46_DB37_51D8_E999),
            ("a", 0, 0xD24E_C4F1_A98C_6E5B),
            ("abc", 0, 0x44BC_2CF5_AD77_0999),
            ("xxhash", 0, 0x32DD_3895_2C4B_C720),
            ("Nobody inspects the spammish repetition", 0, 0xFBCE_A83C_8A37_8BF1),
            ("", 0x9E37_79B1_85EB_CA8D, 0x0B30_3D92_0EC3_49DF),
            ("abc", 0x9E37_79B1_85EB_CA8D, 0x7E49_C9D7_E85A_4AB6),
            ("Nobody inspects the spammish repetition", 0x9E37_79B1_85EB_CA8D, 0xD91F_66CD_4A62_534E),
        ] as [(String, UInt64, UInt64)])
    func stringVectors(text: String, seed: UInt64, expected: UInt64) {
        #expect(xxh64(Array(text.utf8), seed: seed) == expected)
    }

    /// Lengths around every branch of the algorithm (tails of 1/4/8 bytes, 32-byte stripes).
    @Test(
        arguments: [
            (1, 0x1F25_C8D0_BC1F_4BB6, 0x9102_786A_712F_F044), (3, 0x31D2_363F_52E5_64C9, 0xC627_0EC9_7F03_4479),
            (4, 0x9BB6_4B7D_66EE_9FDA, 0x6A31_8137_1BBC_2026), (7, 0x9A7B_1499_59CE_60D8, 0x6E59_6C9E_C41C_4637),
            (8, 0xDAB9_9D95_C6F9_0092, 0xBBCC_4601_A016_B1E4), (15, 0x1B47_CB82_43CC_8E32, 0x44AE_2523_B289_0BB5),
            (16, 0x4348_5023_2B78_7BE2, 0x4C16_BF18_45AF_5D67), (31, 0xA2AA_5F33_CC4A_6119, 0x8086_BF60_119A_7308),
            (32, 0x23C3_C17E_F790_FD97, 0x244C_3905_CF32_0C2D), (33, 0x50A7_CFC7_BA58_8784, 0x1EDC_9934_57CF_1FD8),
            (63, 0x5E3E_54B4_31C7_493C, 0x0E4A_6A50_D61E_6220), (64, 0x0EB6_4B3E_F6EE_B01F, 0xEF58_9281_222C_0318),
            (100, 0xA61F_8D4C_170F_E531, 0xACB8_A028_91FE_A7D2), (255, 0x39AE_55A2_9989_206F, 0xDD08_FBF1_9AD6_5642),
            (300, 0x2400_04DB_EE0B_A6DC, 0x3B45_F714_59BC_8FAF),
        ] as [(Int, UInt64, UInt64)])
    func patternVectors(length: Int, seed0: UInt64, seed12345: UInt64) {
        let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        #expect(xxh64(data) == seed0)
        #expect(xxh64(data, seed: 12345) == seed12345)
    }

    @Test func streamingMatchesOneShotForEverySplit() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        for split in [0, 1, 5, 31, 32, 33, 64, 100, 299, 300] {
            for second in [0, 1, 40] where split + second <= data.count {
                var h = XXH64()
                h.update(Array(data[0..<split]))
                h.update(Array(data[split..<(split + second)]))
                h.update(Array(data[(split + second)...]))
                #expect(h.finalize() == 0x2400_04DB_EE0B_A6DC, "split \(split)+\(second)")
            }
        }
    }
}
