#include "itkMicrostructureTable.h"
#include "itkMicrostructureIO.h"

#include "itkFullDiskTestHelper.h"
#include "itkImage.h"

#include <gtest/gtest.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <chrono>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace
{
namespace fs = std::filesystem;

fs::path
TempDir(const std::string & name)
{
  const fs::path dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string
ReadAll(const fs::path & path)
{
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/** The description of the itk::ExceptionObject `f` throws ("" and a failure if it does not). */
std::string
ErrorOf(const std::function<void()> & f)
{
  try
  {
    f();
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  ADD_FAILURE() << "expected an itk::ExceptionObject";
  return {};
}

/** The files in `dir` other than `keep` (a temporary left behind). */
std::vector<std::string>
OtherFiles(const fs::path & dir, const std::vector<std::string> & keep)
{
  std::vector<std::string> out;
  for (const auto & e : fs::directory_iterator(dir))
  {
    if (std::find(keep.begin(), keep.end(), e.path().filename().string()) == keep.end())
    {
      out.push_back(e.path().filename().string());
    }
  }
  return out;
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)
} // namespace

TEST(MicrostructureTable, RoundTripWithQuoting)
{
  itk::MicrostructureTable t({ "file", "note", "value" });
  t.AddRow({ "a.png", "plain", "1.5" });
  t.AddRow({ "b,c.png", "has \"quotes\"\nand a newline", "-2" });
  const auto back = itk::MicrostructureTable::Parse(t.ToCSV());
  ASSERT_EQ(back.GetNumberOfRows(), 2u);
  EXPECT_EQ(back.Get(1, "file"), "b,c.png");
  EXPECT_EQ(back.Get(1, "note"), "has \"quotes\"\nand a newline");
  EXPECT_DOUBLE_EQ(back.GetNumber(0, "value"), 1.5);
  EXPECT_DOUBLE_EQ(back.GetNumber(1, "value"), -2.0);
}

// Slicer hands a <table> over as .tsv unless told otherwise: a .tsv path is read and written with tabs,
// any other with commas; a field holding the delimiter is quoted.
TEST(MicrostructureTable, TabSeparatedByExtension)
{
  const fs::path           dir = TempDir("sm_tsv_test");
  itk::MicrostructureTable t({ "file", "note" });
  t.AddRow({ "a,b.png", "tab\there" });
  t.Write((dir / "t.tsv").string());
  t.Write((dir / "t.csv").string());
  std::ifstream     tsv(dir / "t.tsv");
  const std::string text((std::istreambuf_iterator<char>(tsv)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "file\tnote\na,b.png\t\"tab\there\"\n");
  for (const char * name : { "t.tsv", "t.csv" })
  {
    const auto back = itk::MicrostructureTable::Read((dir / name).string());
    ASSERT_EQ(back.GetNumberOfColumns(), 2u) << name;
    EXPECT_EQ(back.Get(0, "file"), "a,b.png") << name;
    EXPECT_EQ(back.Get(0, "note"), "tab\there") << name;
  }
  std::ofstream(dir / "upper.TSV") << "file\tum_per_px\nc.png\t0.5\n";
  EXPECT_DOUBLE_EQ(itk::MicrostructureTable::Read((dir / "upper.TSV").string()).GetNumber(0, "um_per_px"), 0.5);
  EXPECT_EQ(itk::MicrostructureTable::DelimiterFor("x.csv"), ',');
  EXPECT_EQ(itk::MicrostructureTable::DelimiterFor("tsv"), ',');
  fs::remove_all(dir);
}

TEST(MicrostructureTable, EmptyCellIsNaNAndTextIsAnError)
{
  const auto t = itk::MicrostructureTable::Parse("a,b\n,x\n");
  EXPECT_TRUE(std::isnan(t.GetNumber(0, "a")));
  EXPECT_THROW(t.GetNumber(0, "b"), itk::ExceptionObject);
  EXPECT_THROW(t.GetColumnIndex("c"), itk::ExceptionObject);
}

TEST(MicrostructureTable, MalformedFilesAreClearErrors)
{
  EXPECT_THROW(itk::MicrostructureTable::Parse(""), itk::ExceptionObject);
  EXPECT_THROW(itk::MicrostructureTable::Parse("a,b\n1,2,3\n"), itk::ExceptionObject);
  EXPECT_THROW(itk::MicrostructureTable::Parse("a,b\n\"1,2\n"), itk::ExceptionObject);
  EXPECT_THROW(itk::MicrostructureTable::Read("/nonexistent/table.csv"), itk::ExceptionObject);
  try
  {
    itk::MicrostructureTable::Parse("a,b\n1,2\n3\n", "t.csv");
    FAIL() << "expected an exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("row 2"), std::string::npos) << e.GetDescription();
  }
}

TEST(AtomicOutputFile, NothingRemainsWithoutCommit)
{
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "sm_atomic_test";
  fs::create_directories(dir);
  const std::string target = (dir / "out.csv").string();
  fs::remove(target);
  {
    itk::AtomicOutputFile f(target);
    std::ofstream(f.GetTemporaryPath()) << "partial";
  }
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(fs::is_empty(dir));
  itk::WriteTextFileAtomically(target, "done\n");
  std::ifstream in(target);
  std::string   s;
  in >> s;
  EXPECT_EQ(s, "done");
  EXPECT_THROW(itk::WriteTextFileAtomically((dir / "missing" / "x.csv").string(), "x"), itk::ExceptionObject);
  fs::remove_all(dir);
}

TEST(AtomicOutputFile, StaleTemporariesAreRemovedByTheNextWrite)
{
  // The tag of this process's temporaries: "<pid>-<token>-<n>", read off a temporary's name in
  // another folder (a write cleans its folder once per process, so this one must be new to it).
  const fs::path probeDir = TempDir("sm_stale_probe");
  std::string    token;
  {
    itk::AtomicOutputFile probe((probeDir / "x.csv").string());
    const std::string     name = fs::path(probe.GetTemporaryPath()).filename().string();
    const std::string     prefix = ".x.tmp-" + std::to_string(::getpid()) + "-";
    ASSERT_EQ(name.compare(0, prefix.size(), prefix), 0) << name;
    token = name.substr(prefix.size(), 8);
  }
  // A process that has ended: its id names no process now.
  const pid_t child = ::fork();
  if (child == 0)
    ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  const std::string dead = std::to_string(child), self = std::to_string(::getpid());

  const fs::path dir = TempDir("sm_stale_test");
  auto           make = [&](const std::string & name, int ageHours = 0) {
    std::ofstream(dir / name) << "left behind";
    if (ageHours)
      fs::last_write_time(dir / name, fs::file_time_type::clock::now() - std::chrono::hours(ageHours));
    return dir / name;
  };
  const auto deadHere = make(".model.tmp-" + dead + "-" + token + "-17.model");  // SIGKILLed writer
  const auto deadOther = make(".other.tmp-" + dead + "-" + token + "-3.nii.gz"); // another output's
  const auto live = make(".model.tmp-" + self + "-" + token + "-18.model");      // a live writer: this one
  const auto foreignNew = make(".model.tmp-" + dead + "-0badf00d-19.model");     // another machine, recent
  const auto foreignOld = make(".model.tmp-" + dead + "-0badf00d-20.model", 48); // another machine, 2 days
  const auto oldFormat = make(".model.tmp-" + dead + "-21.model", 48);           // before the token, 2 days
  const auto notOurs = make(".model.tmp-notes.model");
  const auto notHidden = make("model.tmp-" + dead + "-" + token + "-22.model");
  // A link named like a stale temporary is not removed, nor is what it points to.
  std::ofstream(dir / "victim.txt") << "keep";
  fs::create_symlink(dir / "victim.txt", dir / (".link.tmp-" + dead + "-" + token + "-23.txt"));

  itk::WriteTextFileAtomically((dir / "model.model").string(), "new model\n");

  EXPECT_FALSE(fs::exists(deadHere));
  EXPECT_FALSE(fs::exists(deadOther));
  EXPECT_FALSE(fs::exists(foreignOld));
  EXPECT_FALSE(fs::exists(oldFormat));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(foreignNew));
  EXPECT_TRUE(fs::exists(notOurs));
  EXPECT_TRUE(fs::exists(notHidden));
  EXPECT_TRUE(fs::is_symlink(dir / (".link.tmp-" + dead + "-" + token + "-23.txt")));
  EXPECT_EQ(ReadAll(dir / "victim.txt"), "keep");
  EXPECT_EQ(ReadAll(dir / "model.model"), "new model\n");

  // Called directly: a live writer's temporary still stays; once its writer is gone, it goes.
  EXPECT_EQ(itk::RemoveStaleTemporaryFiles(dir.string()), 0u);
  EXPECT_TRUE(fs::exists(live));
  EXPECT_EQ(itk::RemoveStaleTemporaryFiles(dir.string(), std::chrono::seconds(0)), 1u); // foreignNew, age 0
  EXPECT_FALSE(fs::exists(foreignNew));
  fs::remove_all(dir);
  fs::remove_all(probeDir);
}

TEST(MicrostructureTable, ByteOrderMarkIsStripped)
{
  const auto t = itk::MicrostructureTable::Parse("\xEF\xBB\xBF"
                                                 "file,um_per_px\na.png,0.5\n",
                                                 "bom.csv");
  EXPECT_TRUE(t.HasColumn("file"));
  EXPECT_EQ(t.Get(0, "file"), "a.png");
  EXPECT_EQ(t.GetColumnNames().front(), "file");
  const fs::path dir = TempDir("sm_bom_test");
  std::ofstream(dir / "bom.csv", std::ios::binary) << "\xEF\xBB\xBF"
                                                      "file\nb.png\n";
  EXPECT_EQ(itk::MicrostructureTable::Read((dir / "bom.csv").string()).Get(0, "file"), "b.png");
  fs::remove_all(dir);
}

TEST(MicrostructureTable, ByteOrderMarkInsideANameSurvivesARoundTrip)
{
  // fuzz/FuzzTable.cxx found it: after blank lines a BOM is not the file's, so it stays in the first
  // column's name; written back, the name began the file and the BOM was stripped from it.
  const auto t = itk::MicrostructureTable::Parse("\n\n\xEF\xBB\xBF"
                                                 "a,b\n1,2\n",
                                                 "blank-then-bom.csv");
  ASSERT_EQ(t.GetColumnNames().front(),
            "\xEF\xBB\xBF"
            "a");
  const auto again = itk::MicrostructureTable::Parse(t.ToCSV(), "again.csv");
  EXPECT_EQ(again.GetColumnNames(), t.GetColumnNames());
  EXPECT_EQ(again.Get(0, 0), "1");
}

TEST(MicrostructureTable, DuplicatedColumnIsRefused)
{
  const std::string msg =
    ErrorOf([] { itk::MicrostructureTable::Parse("file,cooling_rate,file\na.png,1,b.png\n", "dup.csv"); });
  EXPECT_CONTAINS(msg, "dup.csv");
  EXPECT_CONTAINS(msg, "'file' twice");
}

TEST(MicrostructureTable, OnlyRegularFilesAreRead)
{
  EXPECT_CONTAINS(ErrorOf([] { itk::MicrostructureTable::Read("/dev/zero"); }), "not a regular file");
  const fs::path dir = TempDir("sm_table_fifo_test");
  EXPECT_CONTAINS(ErrorOf([&] { itk::MicrostructureTable::Read(dir.string()); }), "a folder");
  const std::string fifo = (dir / "fifo.csv").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string msg = ErrorOf([&] { itk::MicrostructureTable::Read(fifo); });
  EXPECT_CONTAINS(msg, fifo);
  EXPECT_CONTAINS(msg, "pipe");
  fs::remove_all(dir);
}

TEST(AtomicOutputFile, EmptyResultKeepsTheOldFile)
{
  // A writer that "succeeded" but left 0 bytes (a full disk) must not replace a good file.
  const fs::path    dir = TempDir("sm_atomic_empty_test");
  const std::string target = (dir / "good.png").string();
  std::ofstream(target, std::ios::binary) << "good contents";
  std::string msg;
  {
    itk::AtomicOutputFile out(target);
    std::ofstream(out.GetTemporaryPath(), std::ios::binary).flush();
    msg = ErrorOf([&] { out.Commit(); });
  }
  EXPECT_CONTAINS(msg, target);
  EXPECT_EQ(msg.find(".tmp-"), std::string::npos) << "the temporary's name is not the user's: " << msg;
  EXPECT_EQ(ReadAll(target), "good contents");
  EXPECT_TRUE(OtherFiles(dir, { "good.png" }).empty());
  fs::remove_all(dir);
}

TEST(AtomicOutputFile, FullDiskKeepsTheOldFile)
{
  const fs::path dir = TempDir("sm_atomic_full_test");
  // A table (text writer), a PNG and a MetaImage (ITK's writers), each over a good file already there.
  using ImageType = itk::Image<unsigned char, 2>;
  auto image = ImageType::New();
  image->SetRegions(ImageType::SizeType{ { 128, 128 } });
  image->Allocate();
  unsigned int state = 1;
  for (itk::SizeValueType i = 0; i < image->GetPixelContainer()->Size(); ++i)
  {
    state = state * 1103515245u + 12345u; // noise: incompressible, so the file is larger than the limit
    image->GetBufferPointer()[i] = static_cast<unsigned char>(state >> 24);
  }
  const std::string                                                                   bigTable(20000, 'x');
  const std::vector<std::pair<std::string, std::function<void(const std::string &)>>> writers = {
    { "table.csv", [&](const std::string & p) { itk::WriteTextFileAtomically(p, bigTable); } },
    { "image.png", [&](const std::string & p) { itk::WriteImageAtomically(image.GetPointer(), p); } },
    { "image.mha", [&](const std::string & p) { itk::WriteImageAtomically(image.GetPointer(), p); } },
    { "raw.mha", [&](const std::string & p) { itk::WriteImageAtomically(image.GetPointer(), p, false); } },
  };
  for (const auto & [name, write] : writers)
  {
    const std::string target = (dir / name).string();
    std::ofstream(target, std::ios::binary) << "the good old " << name;
    const std::string msg = sm_test::ErrorOnFullDisk(4096, [&, &write = write] { write(target); });
    EXPECT_CONTAINS(msg, "Could not write '" + target + "'");
    EXPECT_EQ(msg.find(".tmp-"), std::string::npos) << msg;
    EXPECT_EQ(ReadAll(target), "the good old " + name);
    // Without the limit the same write succeeds.
    write(target);
    EXPECT_GT(fs::file_size(target), 4096u) << name;
  }
  EXPECT_TRUE(OtherFiles(dir, { "table.csv", "image.png", "image.mha", "raw.mha" }).empty());
  fs::remove_all(dir);
}
