#include "itkMicrostructureHash.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

// Started from the published offset basis, the hash is the published FNV-1a 64 (test vectors of
// the FNV reference, http://www.isthe.com/chongo/tech/comp/fnv/): the per-byte step is FNV-1a's.
TEST(MicrostructureHash, PublishedFNV1a64TestVectors)
{
  EXPECT_EQ(itk::FNV1a64OffsetBasis, 0xcbf29ce484222325ull);
  EXPECT_EQ(itk::MicrostructureHash("", itk::FNV1a64OffsetBasis), 0xcbf29ce484222325ull);
  EXPECT_EQ(itk::MicrostructureHash("a", itk::FNV1a64OffsetBasis), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(itk::MicrostructureHash("foobar", itk::FNV1a64OffsetBasis), 0x85944171f73967e8ull);
}

// The module's own basis: the values that model files, cache fingerprints and study stamps hold.
// They must never change (a file written before would read as damaged, every study step would rerun).
TEST(MicrostructureHash, ModuleValuesStayAsWritten)
{
  EXPECT_EQ(itk::MicrostructureHashOffsetBasis, 1469598103934665603ull);
  EXPECT_EQ(itk::MicrostructureHash(""), 0x14650fb0739d0383ull);
  EXPECT_EQ(itk::MicrostructureHash("a"), 0x44bd8ad473cd9906ull);
  EXPECT_EQ(itk::MicrostructureHash("foobar"), 0x88fad7c0a8ff07f2ull);
  EXPECT_EQ(itk::MicrostructureHash(std::string_view()), itk::MicrostructureHashOffsetBasis);
}

// Bytes are hashed as unsigned (a char above 0x7f is not sign-extended), and hashing in pieces,
// each piece starting from the last result, gives the hash of the whole.
TEST(MicrostructureHash, BytesAreUnsignedAndPiecesChain)
{
  const std::string text("header\xff\x80 = value\n", 17);
  uint64_t          expected = itk::MicrostructureHashOffsetBasis;
  for (const char c : text)
  {
    expected ^= static_cast<unsigned char>(c);
    expected *= 1099511628211ull;
  }
  EXPECT_EQ(itk::MicrostructureHash(text), expected);
  for (std::size_t cut = 0; cut <= text.size(); ++cut)
  {
    const std::string_view whole(text);
    EXPECT_EQ(itk::MicrostructureHash(whole.substr(cut), itk::MicrostructureHash(whole.substr(0, cut))), expected)
      << cut;
  }
}
