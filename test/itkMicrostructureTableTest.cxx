#include "itkMicrostructureTable.h"
#include "itkMicrostructureIO.h"

#include <gtest/gtest.h>
#include <cmath>
#include <filesystem>
#include <fstream>

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
