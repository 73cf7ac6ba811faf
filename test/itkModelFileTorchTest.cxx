/*=========================================================================
 * The model-file container (src/torch/itkModelFile.h) on crafted files:
 * section sizes that are negative, huge or past the end, an edited header,
 * and paths that are not regular files. Each must be a clear
 * itk::ExceptionObject naming the file, never a crash or an endless read.
 * And the text of header values that both models write (itkModelFileFormat.h).
 *=========================================================================*/
#include "itkFullDiskTestHelper.h"
#include "itkMicrostructureHash.h"
#include "itkModelFile.h"
#include "itkVQVAEModel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>
#include <vector>

namespace
{
namespace fs = std::filesystem;
namespace mf = itk::modelfile;

const mf::Kind &
TestKind()
{
  static const mf::Kind kind{ "ITKSMTEST", 1, "test model file", "the test", "write it again" };
  return kind;
}

std::string
TempPath(const std::string & name)
{
  const fs::path dir = fs::temp_directory_path() / ("sm_modelfile_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string
ReadAll(const std::string & path)
{
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void
WriteAll(const std::string & path, const std::string & data)
{
  std::ofstream(path, std::ios::binary) << data;
}

/** A good file: two header keys and two sections. */
std::string
WriteGood(const std::string & name)
{
  const std::string path = TempPath(name);
  mf::Write(path,
            TestKind(),
            { { "intensity_maximum", "255" }, { "note", "a\nb" } },
            { { "weights", std::string(300, 'w') }, { "optimizer", std::string(100, 'o') } });
  return path;
}

/** The message of the exception Read throws on `path` ("" and a failure if it does not throw). */
std::string
ReadError(const std::string & path)
{
  try
  {
    mf::Read(path, TestKind(), { "weights", "optimizer" });
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  ADD_FAILURE() << "reading " << path << " should have thrown";
  return {};
}

/** `data` with the header line "key = old" replaced by "key = value". */
std::string
WithHeaderValue(std::string data, const std::string & key, const std::string & value)
{
  const std::string prefix = "\n" + key + " = ";
  const auto        at = data.find(prefix);
  EXPECT_NE(at, std::string::npos) << key;
  const auto eol = data.find('\n', at + 1);
  data.replace(at + prefix.size(), eol - at - prefix.size(), value);
  return data;
}

/** `data` with its header checksum made to fit its (crafted) header again, as a crafted file would have. */
std::string
Resealed(std::string data)
{
  const auto at = data.find("header_fnv1a64 = ");
  EXPECT_NE(at, std::string::npos);
  const auto         eol = data.find('\n', at);
  std::ostringstream hex;
  hex << std::hex << itk::MicrostructureHash(std::string_view(data.data(), at));
  data.replace(at, eol - at, "header_fnv1a64 = " + hex.str());
  return data;
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

} // namespace

TEST(ModelFile, GoodFileRoundTrips)
{
  const std::string path = WriteGood("good.test");
  const auto        c = mf::Read(path, TestKind(), { "weights", "optimizer" });
  EXPECT_EQ(c.Get("intensity_maximum"), "255");
  EXPECT_EQ(c.Get("note"), "a\nb");
  EXPECT_EQ(c.Section("weights"), std::string(300, 'w'));
  EXPECT_EQ(c.Section("optimizer"), std::string(100, 'o'));
  EXPECT_FALSE(c.Has("header_fnv1a64")) << "the header checksum is the container's, not a value";
}

// The text of header values that both models write: fields with commas, backslashes and line
// breaks split back as written; numbers read back exactly; count lists and numbers refuse anything
// else.
TEST(ModelFile, HeaderValueTextReadsBackAsWritten)
{
  const std::vector<std::string> fields = { "a,b", "back\\slash", "two\nlines\r", "", "plain" };
  std::string                    joined;
  for (const auto & f : fields)
    joined += (joined.empty() ? "" : ",") + mf::EscapeField(f);
  EXPECT_EQ(mf::SplitFields(joined), fields);
  EXPECT_EQ(mf::SplitFields(""), std::vector<std::string>{ "" });
  EXPECT_EQ(mf::SplitOn("exp:-1:0.5:", ':'), (std::vector<std::string>{ "exp", "-1", "0.5", "" }));

  double value = 0.0;
  for (const double x : { 0.1, -1.0 / 3.0, 6.02214076e23, 1e-300 })
  {
    ASSERT_TRUE(mf::ParseDouble(mf::Exact(x), value)) << mf::Exact(x);
    EXPECT_EQ(value, x);
  }
  const std::vector<float> floats = { 0.1f, -1.0f / 3.0f, 3.4e38f, 1e-45f };
  std::vector<float>       back;
  for (const auto & f : mf::SplitFields(mf::JoinFloats(floats)))
  {
    ASSERT_TRUE(mf::ParseDouble(f, value)) << f;
    back.push_back(static_cast<float>(value));
  }
  EXPECT_EQ(back, floats);
  EXPECT_TRUE(mf::ParseDouble(" 2.5\n", value));
  EXPECT_EQ(value, 2.5);
  for (const std::string bad : { "", " ", "2.5x", "1,2", "nan?" })
    EXPECT_FALSE(mf::ParseDouble(bad, value)) << bad;

  std::vector<unsigned int> counts;
  EXPECT_TRUE(mf::ParseCounts(mf::JoinCounts({ 1, 2, 40 }), counts));
  EXPECT_EQ(counts, (std::vector<unsigned int>{ 1, 2, 40 }));
  EXPECT_TRUE(mf::ParseCounts("", counts));
  EXPECT_TRUE(counts.empty());
  for (const std::string bad : { "1,,2", ",1", "-1", "1.5", "1 ,2", "1234567890" })
    EXPECT_FALSE(mf::ParseCounts(bad, counts)) << bad;
  EXPECT_EQ(mf::Trim(" \t a b \r\n"), "a b");
}

TEST(ModelFile, CraftedSectionSizesAreRefused)
{
  const std::string data = ReadAll(WriteGood("sizes.test"));
  const std::string path = TempPath("crafted.test");
  // Each value: a sign, a fraction, an exponent, an overflow, a size past the end, a huge size.
  for (const std::string bad : { "-1",
                                 "-300",
                                 "+300",
                                 "300.0",
                                 "3e2",
                                 " 300",
                                 "18446744073709551616",
                                 "99999999999999999999999",
                                 "301",
                                 "18446744073709551615",
                                 "" })
  {
    WriteAll(path, Resealed(WithHeaderValue(data, "weights_bytes", bad)));
    const std::string msg = ReadError(path);
    EXPECT_EQ(msg.find("header's checksum"), std::string::npos) << "the size itself must be refused: " << msg;
    EXPECT_CONTAINS(msg, path);
    EXPECT_TRUE(msg.find("damaged") != std::string::npos || msg.find("truncated") != std::string::npos)
      << bad << ": " << msg;
  }
  // Sizes that add up to the bytes there are but are not the sections' own: the checksum reads inside the file.
  std::string shifted = WithHeaderValue(data, "weights_bytes", "200");
  shifted = WithHeaderValue(shifted, "optimizer_bytes", "200");
  WriteAll(path, Resealed(shifted));
  EXPECT_CONTAINS(ReadError(path), "damaged");
}

TEST(ModelFile, EditedHeaderIsDamage)
{
  const std::string data = ReadAll(WriteGood("edited.test"));
  const std::string path = TempPath("edited2.test");
  WriteAll(path, WithHeaderValue(data, "intensity_maximum", "4095"));
  const std::string msg = ReadError(path);
  EXPECT_CONTAINS(msg, path);
  EXPECT_CONTAINS(msg, "header's checksum");
  // A line added after the checksum is damage too.
  std::string added = data;
  added.insert(added.find("end_header\n"), "intensity_minimum = 7\n");
  WriteAll(path, added);
  EXPECT_CONTAINS(ReadError(path), "damaged");
}

TEST(ModelFile, FileWithoutHeaderChecksumIsStillRead)
{
  // Files written before the header checksum existed.
  std::string data = ReadAll(WriteGood("old.test"));
  const auto  at = data.find("header_fnv1a64 = ");
  ASSERT_NE(at, std::string::npos);
  data.erase(at, data.find('\n', at) + 1 - at);
  const std::string path = TempPath("old2.test");
  WriteAll(path, data);
  const auto c = mf::Read(path, TestKind(), { "weights", "optimizer" });
  EXPECT_EQ(c.Section("weights"), std::string(300, 'w'));
}

TEST(ModelFile, NotARegularFileIsRefusedWithoutReading)
{
  const std::string devZero = ReadError("/dev/zero");
  EXPECT_CONTAINS(devZero, "/dev/zero");
  EXPECT_CONTAINS(devZero, "not a regular file");

  const std::string dir = TempPath("a-folder.test");
  fs::create_directories(dir);
  EXPECT_CONTAINS(ReadError(dir), "a folder");

  // Opening a FIFO without a writer would wait forever; it is refused at once.
  const std::string fifo = TempPath("fifo.test");
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string msg = ReadError(fifo);
  EXPECT_CONTAINS(msg, fifo);
  EXPECT_CONTAINS(msg, "pipe");
  fs::remove(fifo);

  EXPECT_CONTAINS(ReadError(TempPath("does-not-exist.test")), "cannot open");
}

TEST(ModelFile, CraftedVQVAEFileIsAnErrorNotACrash)
{
  // Through the real reader of a model (Decode, Generate and --resume read models this way).
  itk::VQVAEModel::Hyperparameters h;
  h.EncoderChannels = { 8 };
  h.NumberOfResidualBlocks = 1;
  h.CodebookSize = 8;
  h.CodeDimension = 4;
  auto m = itk::VQVAEModel::New();
  m->SetHyperparameters(h);
  m->SetDevice("cpu");
  m->Initialize();
  const std::string good = TempPath("tiny.vqvae");
  m->Write(good);
  const std::string data = ReadAll(good);
  const std::string path = TempPath("crafted.vqvae");
  for (const auto & [key, value] :
       std::vector<std::pair<std::string, std::string>>{ { "weights_bytes", "-1000" },
                                                         { "weights_bytes", "1e30" },
                                                         { "intensity_maximum", "4095" },
                                                         { "encoder_channels", "8,99999999999999999999" } })
  {
    // Sizes and a channel count past unsigned long (std::stoul threw std::out_of_range, "stoul") in a
    // resealed header (a crafted file); the edited intensity in a plain edit.
    const std::string edited = WithHeaderValue(data, key, value);
    WriteAll(path, key != "intensity_maximum" ? Resealed(edited) : edited);
    auto back = itk::VQVAEModel::New();
    back->SetDevice("cpu");
    try
    {
      back->Read(path);
      ADD_FAILURE() << key << " = " << value << " was read";
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_CONTAINS(std::string(e.GetDescription()), path);
      EXPECT_FALSE(back->IsInitialized());
    }
  }
}

TEST(ModelFile, FullDiskKeepsTheOldModel)
{
  const std::string path = WriteGood("full-disk.test");
  const std::string good = ReadAll(path);
  const std::string msg = sm_test::ErrorOnFullDisk(4096, [&] {
    mf::Write(path, TestKind(), { { "note", "new" } }, { { "weights", std::string(20000, 'n') } });
  });
  EXPECT_CONTAINS(msg, "Could not write '" + path + "'");
  EXPECT_EQ(ReadAll(path), good) << "a failed write must leave the old model as it was";
  for (const auto & e : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}
