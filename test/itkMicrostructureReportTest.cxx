/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
// Tests of the study report library: charts (run under xvfb-run -a by ctest),
// montage, PCA, JSON tables, the HTML page, and a headless Chromium check.
#include "itkMicrostructureReport.h"
#include "itkMicrostructureIO.h"

#include "itkImageFileReader.h"
#include "itkRGBPixel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
namespace rp = itk::report;

namespace
{
struct RgbImage
{
  unsigned                   Width{ 0 }, Height{ 0 };
  std::vector<unsigned char> Pixels; // RGB, rows from the top
  const unsigned char *
  At(unsigned x, unsigned y) const
  {
    return &Pixels[3 * (static_cast<std::size_t>(y) * Width + x)];
  }
};

RgbImage
ReadRgb(const std::string & path)
{
  using ImageType = itk::Image<itk::RGBPixel<unsigned char>, 2>;
  auto reader = itk::ImageFileReader<ImageType>::New();
  reader->SetFileName(path);
  reader->Update();
  const auto * im = reader->GetOutput();
  const auto   size = im->GetLargestPossibleRegion().GetSize();
  RgbImage     out;
  out.Width = static_cast<unsigned>(size[0]);
  out.Height = static_cast<unsigned>(size[1]);
  const auto * buf = im->GetBufferPointer();
  for (std::size_t i = 0; i < size[0] * size[1]; ++i)
  {
    out.Pixels.insert(out.Pixels.end(), { buf[i][0], buf[i][1], buf[i][2] });
  }
  return out;
}

// Number of distinct colours (quantized to 32 levels per channel).
std::size_t
DistinctColours(const RgbImage & im)
{
  std::set<int> colours;
  for (std::size_t i = 0; i + 2 < im.Pixels.size(); i += 3)
  {
    colours.insert((im.Pixels[i] / 8) * 1024 + (im.Pixels[i + 1] / 8) * 32 + im.Pixels[i + 2] / 8);
  }
  return colours.size();
}

// Number of pixels within `tol` of an RGB colour.
std::size_t
CountColour(const RgbImage & im, const std::vector<unsigned char> & c, int tol = 30)
{
  std::size_t n = 0;
  for (std::size_t i = 0; i + 2 < im.Pixels.size(); i += 3)
  {
    if (std::abs(im.Pixels[i] - c[0]) <= tol && std::abs(im.Pixels[i + 1] - c[1]) <= tol &&
        std::abs(im.Pixels[i + 2] - c[2]) <= tol)
    {
      ++n;
    }
  }
  return n;
}

// The colour of series `index` as a fill of opacity `alpha` over white.
std::vector<unsigned char>
OverWhite(std::size_t index, double alpha)
{
  auto c = rp::PaletteColor(index);
  for (auto & v : c)
  {
    v = static_cast<unsigned char>(std::lround(alpha * v + (1.0 - alpha) * 255.0));
  }
  return c;
}

fs::path
Scratch(const std::string & name)
{
  const fs::path dir = fs::path(SM_BINARY_DIR) / "test-output" / "report" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

#define REQUIRE_DISPLAY()                                                                                              \
  do                                                                                                                   \
  {                                                                                                                    \
    std::string why_;                                                                                                  \
    if (!rp::HasDisplay(&why_))                                                                                        \
    {                                                                                                                  \
      GTEST_SKIP() << "no X display (" << why_ << "): ctest runs this under xvfb-run -a";                              \
    }                                                                                                                  \
  } while (0)

rp::BoxPlotData
ExampleBoxData()
{
  rp::BoxPlotData d;
  d.Groups = { "1 K/s", "10 K/s", "100 K/s" };
  d.SeriesNames = { "real", "generated" };
  d.GroupLabel = "cooling rate";
  std::mt19937                     rng(1);
  std::normal_distribution<double> n(0.0, 0.03);
  d.Values.assign(2, std::vector<std::vector<double>>(3));
  for (int s = 0; s < 2; ++s)
  {
    for (int g = 0; g < 3; ++g)
    {
      for (int i = 0; i < 40; ++i)
      {
        d.Values[s][g].push_back(0.2 + 0.15 * g + 0.02 * s + n(rng));
      }
    }
  }
  d.Values[1][2].push_back(1.2); // an outlier
  return d;
}

std::vector<rp::Curve>
ExampleCurves()
{
  std::vector<rp::Curve> curves(2);
  for (int k = 0; k < 2; ++k)
  {
    curves[k].Label = k == 0 ? "real" : "generated";
    curves[k].Dashed = k == 0;
    for (int i = 0; i <= 40; ++i)
    {
      const double r = i;
      const double m = 0.09 + 0.21 * std::exp(-r / (6.0 + 2.0 * k));
      curves[k].X.push_back(r);
      curves[k].Mean.push_back(m);
      curves[k].Lower.push_back(m - 0.02);
      curves[k].Upper.push_back(m + 0.02);
    }
  }
  return curves;
}

rp::ScatterData
ExampleScatter()
{
  rp::ScatterData                  d;
  std::mt19937                     rng(2);
  std::normal_distribution<double> n(0.0, 0.4);
  const char *                     names[3] = { "A", "B", "C" };
  for (int g = 0; g < 3; ++g)
  {
    for (int i = 0; i < 60; ++i)
    {
      d.X.push_back(2.0 * g + n(rng));
      d.Y.push_back((g == 1 ? 2.0 : 0.0) + n(rng));
      d.Group.push_back(names[g]);
    }
  }
  return d;
}

rp::MontageImageType::Pointer
Patch(unsigned w, unsigned h, unsigned char base)
{
  auto                           im = rp::MontageImageType::New();
  rp::MontageImageType::SizeType size = { { w, h } };
  im->SetRegions(size);
  im->Allocate();
  for (unsigned y = 0; y < h; ++y)
  {
    for (unsigned x = 0; x < w; ++x)
    {
      im->SetPixel({ { static_cast<itk::IndexValueType>(x), static_cast<itk::IndexValueType>(y) } },
                   static_cast<unsigned char>((base + 3 * x + 7 * y) % 200));
    }
  }
  return im;
}
} // namespace

// ---------------------------------------------------------------- charts

TEST(MicrostructureReport, BoxPlotIsDrawnAtTheAskedSizeWithBothSeriesColours)
{
  REQUIRE_DISPLAY();
  const auto        dir = Scratch("box");
  const std::string png = (dir / "vf.png").string();
  rp::WriteBoxPlot(png, "Volume fraction", "volume fraction", ExampleBoxData(), 640, 400);
  const auto im = ReadRgb(png);
  EXPECT_EQ(im.Width, 640u);
  EXPECT_EQ(im.Height, 400u);
  EXPECT_GE(DistinctColours(im), 8u);
  // Both series' box fills (opacity 200/255 over white) cover the boxes: three
  // boxes of about 40 x 12 pixels each, far more than the legend's 20 x 12 swatch.
  EXPECT_GT(CountColour(im, OverWhite(0, 200.0 / 255.0), 25), 700u);
  EXPECT_GT(CountColour(im, OverWhite(1, 200.0 / 255.0), 25), 700u);
  // Only the final file remains (no temporaries).
  std::size_t files = 0;
  for (const auto & e : fs::directory_iterator(dir))
  {
    ++files;
    EXPECT_EQ(e.path().filename(), "vf.png");
  }
  EXPECT_EQ(files, 1u);
}

TEST(MicrostructureReport, BoxPlotMediansOfConstantDataSitAtTheirValues)
{
  REQUIRE_DISPLAY();
  // Three groups of constant data 1, 2, 3 on a fixed axis 0..4: the black
  // median lines sit at equally spaced heights, as far apart as the x axis
  // (y = 0) is from the first one.
  rp::BoxPlotData d;
  d.Groups = { "a", "b", "c" };
  d.SeriesNames = { "s" };
  d.Values = { { { 1, 1, 1 }, { 2, 2, 2, 2 }, { 3, 3 } } };
  d.YMin = 0.0;
  d.YMax = 4.0;
  const auto        dir = Scratch("box-const");
  const std::string png = (dir / "c.png").string();
  rp::WriteBoxPlot(png, "", "value", d, 600, 420);
  const auto im = ReadRgb(png);
  // Per group column range, the row of the longest run of near-black pixels.
  auto isBlack = [&](unsigned x, unsigned y) {
    const auto * p = im.At(x, y);
    return p[0] < 60 && p[1] < 60 && p[2] < 60;
  };
  // Find horizontal black runs of length 15..200 pixels.
  struct Run
  {
    unsigned y, x0, x1;
  };
  std::vector<Run> runs;
  for (unsigned y = 0; y < im.Height; ++y)
  {
    unsigned x = 0;
    while (x < im.Width)
    {
      if (!isBlack(x, y))
      {
        ++x;
        continue;
      }
      unsigned x1 = x;
      while (x1 < im.Width && isBlack(x1, y))
      {
        ++x1;
      }
      if (x1 - x >= 15)
      {
        runs.push_back({ y, x, x1 });
      }
      x = x1;
    }
  }
  // The x axis: the longest run. The medians: runs of 15..200 pixels, one per group.
  ASSERT_FALSE(runs.empty());
  const Run axis =
    *std::max_element(runs.begin(), runs.end(), [](const Run & a, const Run & b) { return a.x1 - a.x0 < b.x1 - b.x0; });
  ASSERT_GT(axis.x1 - axis.x0, 300u) << "no x axis line found";
  std::map<unsigned, std::vector<unsigned>> rowsByColumn; // x0 / 10 -> rows
  for (const auto & r : runs)
  {
    if (r.x1 - r.x0 <= 200 && r.y < axis.y - 3)
    {
      rowsByColumn[(r.x0 + r.x1) / 2 / 20].push_back(r.y);
    }
  }
  ASSERT_EQ(rowsByColumn.size(), 3u) << "expected one median line per group";
  std::vector<double> ys;
  for (const auto & kv : rowsByColumn)
  {
    double sum = 0.0;
    for (const auto y : kv.second)
    {
      sum += y;
    }
    ys.push_back(sum / kv.second.size());
  }
  const double step = (ys[0] - ys[2]) / 2.0;
  EXPECT_GT(step, 40.0);
  EXPECT_NEAR(ys[0] - ys[1], step, 2.0);
  EXPECT_NEAR(axis.y - ys[0], step, 2.5);
}

TEST(MicrostructureReport, BoxPlotWithManyGroupsThreeSeriesAndMissingBoxes)
{
  REQUIRE_DISPLAY();
  // Ten long group names (labels are turned), three series, some empty
  // (series, group) cells, min/max whiskers.
  rp::BoxPlotData d;
  d.SeriesNames = { "real", "reconstructed", "generated" };
  for (int g = 0; g < 10; ++g)
  {
    d.Groups.push_back("800 C, 90 min, quench " + std::to_string(g));
  }
  d.Values.assign(3, std::vector<std::vector<double>>(10));
  for (int s = 0; s < 3; ++s)
  {
    for (int g = 0; g < 10; ++g)
    {
      if ((s + g) % 4 == 3)
      {
        continue; // no box
      }
      for (int i = 0; i < 9; ++i)
      {
        d.Values[s][g].push_back(1.0 + 0.1 * g + 0.05 * s + 0.01 * i);
      }
    }
  }
  d.TukeyWhiskers = false;
  const auto dir = Scratch("box-many");
  rp::WriteBoxPlot((dir / "many.png").string(), "Mean free path", "mean free path (um)", d, 1000, 600);
  const auto im = ReadRgb((dir / "many.png").string());
  EXPECT_EQ(im.Width, 1000u);
  EXPECT_EQ(im.Height, 600u);
  for (std::size_t s = 0; s < 3; ++s)
  {
    EXPECT_GT(CountColour(im, OverWhite(s, 200.0 / 255.0), 25), 300u) << "series " << s;
  }
}

TEST(MicrostructureReport, CurvesWithBandsLinearAndLog)
{
  REQUIRE_DISPLAY();
  const auto dir = Scratch("curves");
  const auto curves = ExampleCurves();
  rp::WriteCurves((dir / "s2.png").string(), "Two-point correlation", "r (um)", "S2(r)", curves, false, 700, 450);
  auto im = ReadRgb((dir / "s2.png").string());
  EXPECT_EQ(im.Width, 700u);
  EXPECT_EQ(im.Height, 450u);
  EXPECT_GE(DistinctColours(im), 8u);
  EXPECT_GT(CountColour(im, rp::PaletteColor(0), 20), 100u); // blue line
  EXPECT_GT(CountColour(im, rp::PaletteColor(1), 20), 100u); // orange line
  // Log x: x must be > 0.
  auto logCurves = curves;
  for (auto & c : logCurves)
  {
    for (auto & x : c.X)
    {
      x += 1.0;
    }
  }
  rp::WriteCurves((dir / "s2log.png").string(), "log", "r + 1", "S2", logCurves, true, 500, 300, true);
  im = ReadRgb((dir / "s2log.png").string());
  EXPECT_EQ(im.Width, 500u);
  EXPECT_GE(DistinctColours(im), 8u);
  EXPECT_THROW(rp::WriteCurves((dir / "bad.png").string(), "t", "x", "y", curves, true), itk::ExceptionObject);
  auto broken = curves;
  broken[0].Upper.pop_back();
  EXPECT_THROW(rp::WriteCurves((dir / "bad.png").string(), "t", "x", "y", broken), itk::ExceptionObject);
  EXPECT_FALSE(fs::exists(dir / "bad.png"));
}

TEST(MicrostructureReport, ScatterColoursEveryGroup)
{
  REQUIRE_DISPLAY();
  const auto dir = Scratch("scatter");
  rp::WriteScatter((dir / "pca.png").string(), "PCA", "PC1", "PC2", ExampleScatter(), 600, 500);
  const auto im = ReadRgb((dir / "pca.png").string());
  EXPECT_EQ(im.Width, 600u);
  EXPECT_EQ(im.Height, 500u);
  for (std::size_t g = 0; g < 3; ++g)
  {
    EXPECT_GT(CountColour(im, OverWhite(g, 210.0 / 255.0), 30), 100u) << "group " << g;
  }
  rp::ScatterData bad = ExampleScatter();
  bad.Group.pop_back();
  EXPECT_THROW(rp::WriteScatter((dir / "bad.png").string(), "t", "x", "y", bad), itk::ExceptionObject);
  EXPECT_THROW(rp::WriteScatter((dir / "bad.txt").string(), "t", "x", "y", ExampleScatter()), itk::ExceptionObject);
}

TEST(MicrostructureReport, BadBoxPlotInputIsAClearError)
{
  const auto dir = Scratch("box-bad");
  auto       d = ExampleBoxData();
  d.Values[1].pop_back();
  EXPECT_THROW(rp::WriteBoxPlot((dir / "b.png").string(), "t", "y", d), itk::ExceptionObject);
  d = ExampleBoxData();
  EXPECT_THROW(rp::WriteBoxPlot((dir / "missing" / "b.png").string(), "t", "y", d), itk::ExceptionObject);
  EXPECT_THROW(rp::WriteBoxPlot((dir / "b.png").string(), "t", "y", d, 10, 10), itk::ExceptionObject);
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(MicrostructureReport, QuartilesMatchNumpyLinearInterpolation)
{
  // numpy.percentile([7, 1, 3, 5], [25, 50, 75]) == [2.5, 4.0, 5.5]
  const auto q = rp::Quartiles({ 7, 1, 3, 5, std::nan("") });
  EXPECT_DOUBLE_EQ(q[0], 2.5);
  EXPECT_DOUBLE_EQ(q[1], 4.0);
  EXPECT_DOUBLE_EQ(q[2], 5.5);
  EXPECT_THROW(rp::Quartiles({}), itk::ExceptionObject);
}

// ---------------------------------------------------------------- no display

TEST(MicrostructureReport, WithoutDisplayChartsThrowAndMontageStillWorks)
{
  const char *      old = std::getenv("DISPLAY");
  const std::string saved = old ? old : "";
  ::unsetenv("DISPLAY");
  std::string why;
  EXPECT_FALSE(rp::HasDisplay(&why));
  EXPECT_NE(why.find("DISPLAY"), std::string::npos) << why;
  const auto dir = Scratch("nodisplay");
  try
  {
    rp::WriteBoxPlot((dir / "b.png").string(), "t", "y", ExampleBoxData());
    ADD_FAILURE() << "expected an exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("xvfb-run -a"), std::string::npos) << e.GetDescription();
  }
  EXPECT_THROW(rp::WriteCurves((dir / "c.png").string(), "t", "x", "y", ExampleCurves()), itk::ExceptionObject);
  EXPECT_THROW(rp::WriteScatter((dir / "s.png").string(), "t", "x", "y", ExampleScatter()), itk::ExceptionObject);
  EXPECT_TRUE(fs::is_empty(dir));
  // A display name that does not answer.
  ::setenv("DISPLAY", ":987", 1);
  EXPECT_FALSE(rp::HasDisplay(&why));
  EXPECT_NE(why.find(":987"), std::string::npos) << why;
  EXPECT_THROW(rp::WriteBoxPlot((dir / "b.png").string(), "t", "y", ExampleBoxData()), itk::ExceptionObject);
  ::unsetenv("DISPLAY");
  // The montage needs no display (FreeType text, CPU composition).
  rp::WriteMontage((dir / "m.png").string(), { "row" }, { { Patch(16, 16, 10).GetPointer() } }, { "col" });
  EXPECT_TRUE(fs::exists(dir / "m.png"));
  if (!saved.empty())
  {
    ::setenv("DISPLAY", saved.c_str(), 1);
  }
}

// ---------------------------------------------------------------- montage

TEST(MicrostructureReport, MontageLayoutIsExactWithoutLabels)
{
  const auto                                                   dir = Scratch("montage");
  std::vector<std::vector<rp::MontageImageType::ConstPointer>> rows(2);
  rows[0] = { Patch(20, 12, 0).GetPointer(), Patch(20, 12, 50).GetPointer(), Patch(20, 12, 100).GetPointer() };
  rows[1] = { Patch(20, 12, 150).GetPointer(), nullptr, Patch(10, 6, 30).GetPointer() };
  const unsigned    g = 3;
  const std::string png = (dir / "m.png").string();
  rp::WriteMontage(png, {}, rows, {}, g);
  const auto im = ReadRgb(png);
  EXPECT_EQ(im.Width, g + 3 * (20 + g));
  EXPECT_EQ(im.Height, g + 2 * (12 + g));
  // Every pixel of every patch is copied unchanged, grey (R=G=B).
  for (unsigned r = 0; r < 2; ++r)
  {
    for (unsigned c = 0; c < 3; ++c)
    {
      const auto & p = rows[r][c];
      if (!p)
      {
        // Empty cell: white.
        EXPECT_EQ(im.At(g + c * (20 + g) + 5, g + r * (12 + g) + 5)[0], 255);
        continue;
      }
      const auto     size = p->GetLargestPossibleRegion().GetSize();
      const unsigned ox = g + c * (20 + g) + (20 - size[0]) / 2;
      const unsigned oy = g + r * (12 + g) + (12 - size[1]) / 2;
      for (unsigned y = 0; y < size[1]; ++y)
      {
        for (unsigned x = 0; x < size[0]; ++x)
        {
          const auto   v = p->GetPixel({ { x, y } });
          const auto * px = im.At(ox + x, oy + y);
          ASSERT_EQ(px[0], v) << r << "," << c << " at " << x << "," << y;
          ASSERT_EQ(px[1], v);
          ASSERT_EQ(px[2], v);
        }
      }
    }
  }
  // Gutters are white.
  for (unsigned y = 0; y < im.Height; ++y)
  {
    EXPECT_EQ(im.At(g + 20 + 1, y)[0], 255);
  }
}

TEST(MicrostructureReport, MontageDrawsRowLabelsAndHeaders)
{
  const auto                                                   dir = Scratch("montage-labels");
  std::vector<std::vector<rp::MontageImageType::ConstPointer>> rows = {
    { Patch(64, 64, 0).GetPointer(), Patch(64, 64, 90).GetPointer() },
    { Patch(64, 64, 40).GetPointer(), Patch(64, 64, 120).GetPointer() }
  };
  const std::string png = (dir / "m.png").string();
  rp::WriteMontage(png, { "100 K/s", "1000 K/s (held out)" }, rows, { "real", "generated" });
  const auto im = ReadRgb(png);
  EXPECT_GT(im.Width, 4 + 2 * 68u + 60u);  // a label column
  EXPECT_GT(im.Height, 4 + 2 * 68u + 10u); // a header row
  // Dark text pixels in the label column (left of the first patch) and in the header row.
  const unsigned labelW = im.Width - (4 + 2 * 68u);
  const unsigned headerH = im.Height - (4 + 2 * 68u);
  std::size_t    labelInk = 0, headerInk = 0;
  for (unsigned y = 0; y < im.Height; ++y)
  {
    for (unsigned x = 0; x < im.Width; ++x)
    {
      const bool ink = im.At(x, y)[0] < 100;
      labelInk += (ink && x < labelW && y >= headerH) ? 1 : 0;
      headerInk += (ink && y < headerH && x >= labelW) ? 1 : 0;
    }
  }
  EXPECT_GT(labelInk, 50u);
  EXPECT_GT(headerInk, 30u);
  EXPECT_THROW(rp::WriteMontage(png, { "only one" }, rows), itk::ExceptionObject);
  EXPECT_THROW(rp::WriteMontage((dir / "e.png").string(), {}, { { nullptr } }), itk::ExceptionObject);
  EXPECT_FALSE(fs::exists(dir / "e.png"));
}

// ---------------------------------------------------------------- PCA

TEST(MicrostructureReport, PCAOfPointsOnALine)
{
  // x_i = c + t_i d: one component explains everything; projections are
  // (t_i - mean t) |d|, positive along d (d's largest entry is positive).
  const std::vector<double> d = { 0.5, -1.0, 2.0, 0.25 };
  const std::vector<double> c = { 3.0, 1.0, -2.0, 7.0 };
  const std::vector<double> t = { -2.0, 0.5, 1.0, 3.0, 4.5, -1.0 };
  double                    dn = 0.0, tm = 0.0;
  for (const double v : d)
  {
    dn += v * v;
  }
  dn = std::sqrt(dn);
  for (const double v : t)
  {
    tm += v / t.size();
  }
  std::vector<float> data;
  for (const double ti : t)
  {
    for (std::size_t j = 0; j < d.size(); ++j)
    {
      data.push_back(static_cast<float>(c[j] + ti * d[j]));
    }
  }
  std::vector<double> ratio;
  const auto          proj = rp::PrincipalComponents(data, t.size(), d.size(), 2, &ratio);
  ASSERT_EQ(proj.size(), t.size() * 2);
  ASSERT_EQ(ratio.size(), 2u);
  EXPECT_NEAR(ratio[0], 1.0, 1e-6);
  EXPECT_NEAR(ratio[1], 0.0, 1e-6);
  for (std::size_t i = 0; i < t.size(); ++i)
  {
    EXPECT_NEAR(proj[2 * i], (t[i] - tm) * dn, 1e-4) << i;
    EXPECT_NEAR(proj[2 * i + 1], 0.0, 1e-4) << i;
  }
  // Wide data (more variables than observations: the Gram-matrix path) agrees.
  std::vector<float> wide;
  const std::size_t  cols = 40;
  for (const double ti : t)
  {
    for (std::size_t j = 0; j < cols; ++j)
    {
      wide.push_back(static_cast<float>(0.1 * j + ti * (j == 7 ? 2.0 : 0.5)));
    }
  }
  const auto   wproj = rp::PrincipalComponents(wide, t.size(), cols, 1, &ratio);
  const double wn = std::sqrt(39 * 0.25 + 4.0);
  for (std::size_t i = 0; i < t.size(); ++i)
  {
    EXPECT_NEAR(wproj[i], (t[i] - tm) * wn, 1e-4) << i;
  }
  EXPECT_NEAR(ratio[0], 1.0, 1e-6);
}

TEST(MicrostructureReport, PCAMatchesPowerIterationOnAnisotropicData)
{
  // Correlated 3-D Gaussian data; a brute-force reference: the covariance's
  // leading eigenpairs by power iteration with deflation.
  std::mt19937                     rng(5);
  std::normal_distribution<double> n(0.0, 1.0);
  const std::size_t                rows = 500, cols = 3;
  std::vector<float>               data;
  for (std::size_t i = 0; i < rows; ++i)
  {
    const double a = 3.0 * n(rng), b = 1.0 * n(rng), e = 0.3 * n(rng);
    data.insert(data.end(),
                { static_cast<float>(a + b), static_cast<float>(a - b + e), static_cast<float>(0.5 * a + e) });
  }
  std::vector<double> mean(cols, 0.0), cov(cols * cols, 0.0);
  for (std::size_t i = 0; i < rows; ++i)
  {
    for (std::size_t j = 0; j < cols; ++j)
    {
      mean[j] += data[i * cols + j] / double(rows);
    }
  }
  for (std::size_t i = 0; i < rows; ++i)
  {
    for (std::size_t j = 0; j < cols; ++j)
    {
      for (std::size_t k = 0; k < cols; ++k)
      {
        cov[j * cols + k] += (data[i * cols + j] - mean[j]) * (data[i * cols + k] - mean[k]) / double(rows - 1);
      }
    }
  }
  const double                     total = cov[0] + cov[4] + cov[8];
  std::vector<std::vector<double>> vecs;
  std::vector<double>              vals;
  auto                             work = cov;
  for (int comp = 0; comp < 2; ++comp)
  {
    std::vector<double> v = { 1.0, 0.3, 0.2 };
    double              lambda = 0.0;
    for (int it = 0; it < 2000; ++it)
    {
      std::vector<double> w(cols, 0.0);
      for (std::size_t j = 0; j < cols; ++j)
      {
        for (std::size_t k = 0; k < cols; ++k)
        {
          w[j] += work[j * cols + k] * v[k];
        }
      }
      lambda = std::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
      for (std::size_t j = 0; j < cols; ++j)
      {
        v[j] = w[j] / lambda;
      }
    }
    // Orientation: largest-magnitude entry positive.
    std::size_t big = 0;
    for (std::size_t j = 1; j < cols; ++j)
    {
      big = std::abs(v[j]) > std::abs(v[big]) ? j : big;
    }
    if (v[big] < 0)
    {
      for (auto & x : v)
      {
        x = -x;
      }
    }
    vecs.push_back(v);
    vals.push_back(lambda);
    for (std::size_t j = 0; j < cols; ++j)
    {
      for (std::size_t k = 0; k < cols; ++k)
      {
        work[j * cols + k] -= lambda * v[j] * v[k];
      }
    }
  }
  std::vector<double> ratio;
  const auto          proj = rp::PrincipalComponents(data, rows, cols, 2, &ratio);
  EXPECT_NEAR(ratio[0], vals[0] / total, 1e-6);
  EXPECT_NEAR(ratio[1], vals[1] / total, 1e-6);
  EXPECT_GT(ratio[0], ratio[1]);
  for (std::size_t i = 0; i < rows; i += 7)
  {
    for (int comp = 0; comp < 2; ++comp)
    {
      double ref = 0.0;
      for (std::size_t j = 0; j < cols; ++j)
      {
        ref += (data[i * cols + j] - mean[j]) * vecs[comp][j];
      }
      EXPECT_NEAR(proj[2 * i + comp], ref, 1e-4) << i << " " << comp;
    }
  }
  EXPECT_THROW(rp::PrincipalComponents(data, rows, cols, 4), itk::ExceptionObject);
  EXPECT_THROW(rp::PrincipalComponents(data, rows + 1, cols, 1), itk::ExceptionObject);
  auto withNaN = data;
  withNaN[5] = std::nanf("");
  EXPECT_THROW(rp::PrincipalComponents(withNaN, rows, cols, 1), itk::ExceptionObject);
}

TEST(MicrostructureReport, PCAOfLargeLowRankDataUsesTheRandomizedPathAccurately)
{
  // rows x cols = 1100 x 1050 (both > 400: randomized SVD). Data = two known
  // orthogonal directions with known scores + tiny noise: the leading
  // projections are the scores (up to the sign convention).
  const std::size_t                rows = 1100, cols = 1050;
  std::mt19937                     rng(9);
  std::normal_distribution<double> n(0.0, 1.0);
  std::vector<double>              u(cols), v(cols);
  for (std::size_t j = 0; j < cols; ++j)
  {
    u[j] = (j == 3 ? 5.0 : 0.0) + 0.1 * n(rng);
    v[j] = n(rng);
  }
  auto normalize = [](std::vector<double> & a) {
    double s = 0.0;
    for (const double x : a)
    {
      s += x * x;
    }
    for (auto & x : a)
    {
      x /= std::sqrt(s);
    }
  };
  normalize(u);
  double dot = 0.0;
  for (std::size_t j = 0; j < cols; ++j)
  {
    dot += u[j] * v[j];
  }
  for (std::size_t j = 0; j < cols; ++j)
  {
    v[j] -= dot * u[j];
  }
  normalize(v);
  // Scores with exactly zero mean and zero sample correlation, so that the
  // principal axes are exactly u and v.
  std::vector<double> a(rows), b(rows);
  for (std::size_t i = 0; i < rows; ++i)
  {
    a[i] = 10.0 * n(rng);
    b[i] = 4.0 * n(rng);
  }
  for (auto * s : { &a, &b })
  {
    double m = 0.0;
    for (const double x : *s)
    {
      m += x / rows;
    }
    for (auto & x : *s)
    {
      x -= m;
    }
  }
  double ab = 0.0, aa = 0.0;
  for (std::size_t i = 0; i < rows; ++i)
  {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
  }
  for (std::size_t i = 0; i < rows; ++i)
  {
    b[i] -= ab / aa * a[i];
  }
  std::vector<float> data(rows * cols);
  for (std::size_t i = 0; i < rows; ++i)
  {
    for (std::size_t j = 0; j < cols; ++j)
    {
      data[i * cols + j] = static_cast<float>(a[i] * u[j] + b[i] * v[j] + 0.001 * n(rng));
    }
  }
  std::vector<double> ratio;
  const auto          proj = rp::PrincipalComponents(data, rows, cols, 2, &ratio);
  EXPECT_GT(ratio[0] + ratio[1], 0.999);
  // Compare to the centred scores (a along u, whose largest entry is positive).
  double am = 0.0;
  for (const double x : a)
  {
    am += x / rows;
  }
  double maxErr = 0.0, corrB = 0.0, bb = 0.0, pp = 0.0, bm = 0.0;
  for (const double x : b)
  {
    bm += x / rows;
  }
  for (std::size_t i = 0; i < rows; ++i)
  {
    maxErr = std::max(maxErr, std::abs(proj[2 * i] - (a[i] - am)));
    corrB += proj[2 * i + 1] * (b[i] - bm);
    bb += (b[i] - bm) * (b[i] - bm);
    pp += proj[2 * i + 1] * proj[2 * i + 1];
  }
  EXPECT_LT(maxErr, 0.01); // scores have sd 10
  EXPECT_GT(std::abs(corrB) / std::sqrt(bb * pp), 0.99999);
}

// ---------------------------------------------------------------- HTML and JSON

TEST(MicrostructureReport, HtmlEscapesTextAndWritesTables)
{
  const auto dir = Scratch("html");
  // A figure the page refers to (a real PNG: the montage needs no display).
  fs::create_directories(dir / "fig");
  rp::WriteMontage((dir / "fig" / "m 1.png").string(), {}, { { Patch(30, 20, 5).GetPointer() } }, {}, 2);
  itk::MicrostructureTable t({ "condition", "volume fraction", "note" });
  t.AddRow({ "A<B", "0.25", "x & y" });
  t.AddRow({ "C", "1e-3", "\"q\"" });
  t.AddRow({ "D", "nan", "" });
  rp::HtmlReport page;
  page.SetTitle("Study <1> & more");
  page.AddHeading("Results & <data>", 2);
  page.AddParagraph("a < b & c > d\nnext line");
  page.AddTable(t, "Table <1>", 2, "tables/vf.csv");
  page.AddHeading("Figures", 2);
  page.AddFigure("fig/m 1.png", "Montage \"one\"");
  page.AddLink("tables/vf.json", "JSON");
  EXPECT_THROW(page.AddFigure("/abs/x.png", "x"), itk::ExceptionObject);
  EXPECT_THROW(page.AddFigure("http://example.com/x.png", "x"), itk::ExceptionObject);
  EXPECT_THROW(page.AddFigure("file:///x.png", "x"), itk::ExceptionObject);
  EXPECT_THROW(page.AddHeading("x", 7), itk::ExceptionObject);
  const std::string path = (dir / "index.html").string();
  page.Write(path);
  std::ifstream     in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string html = ss.str();
  EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_NE(html.find("<title>Study &lt;1&gt; &amp; more</title>"), std::string::npos);
  EXPECT_NE(html.find("Results &amp; &lt;data&gt;"), std::string::npos);
  EXPECT_NE(html.find("<p>a &lt; b &amp; c &gt; d<br>\nnext line</p>"), std::string::npos);
  EXPECT_NE(html.find("<caption>Table &lt;1&gt;</caption>"), std::string::npos);
  EXPECT_NE(html.find("<td>A&lt;B</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">0.25</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>x &amp; y</td>"), std::string::npos);
  EXPECT_EQ(html.find(">D<"), std::string::npos) << "maxRows = 2 shows 2 rows";
  EXPECT_NE(html.find("Showing the first 2 of 3 rows"), std::string::npos);
  EXPECT_NE(html.find("href=\"tables/vf.csv\""), std::string::npos);
  EXPECT_NE(html.find("<img src=\"fig/m%201.png\" alt=\"Montage &quot;one&quot;\" width=\"34\" height=\"24\""),
            std::string::npos)
    << html;
  EXPECT_NE(html.find("<nav class=\"toc\">"), std::string::npos);
  EXPECT_NE(html.find("href=\"#s1\""), std::string::npos);
  // Offline: no external resources, no script.
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // A missing figure: clear error, no page.
  rp::HtmlReport broken;
  broken.AddFigure("fig/none.png", "missing");
  EXPECT_THROW(broken.Write((dir / "broken.html").string()), itk::ExceptionObject);
  EXPECT_FALSE(fs::exists(dir / "broken.html"));
}

TEST(MicrostructureReport, TableToJsonTypesCells)
{
  itk::MicrostructureTable t({ "name", "value", "n" });
  t.AddRow({ "a \"q\"\n", "0.5", "3" });
  t.AddRow({ "0x10", "nan", "" });
  const std::string json = rp::TableToJson(t);
  EXPECT_EQ(json,
            "[\n {\"name\": \"a \\\"q\\\"\\n\", \"value\": 0.5, \"n\": 3},\n"
            " {\"name\": \"0x10\", \"value\": null, \"n\": null}\n]\n");
  EXPECT_EQ(rp::TableToJson(itk::MicrostructureTable({ "a" })), "[]\n");
}

// ---------------------------------------------------------------- headless Chromium

TEST(MicrostructureReport, ChromiumRendersAReportWithEveryFigureType)
{
  if (!fs::exists("/usr/bin/chromium"))
  {
    GTEST_SKIP() << "/usr/bin/chromium is not installed";
  }
  REQUIRE_DISPLAY();
  const auto dir = Scratch("chromium");
  fs::create_directories(dir / "figures");
  fs::create_directories(dir / "tables");
  rp::WriteBoxPlot((dir / "figures/box.png").string(), "Volume fraction", "Vf", ExampleBoxData());
  rp::WriteCurves((dir / "figures/curves.png").string(), "S2", "r (um)", "S2", ExampleCurves());
  rp::WriteScatter((dir / "figures/scatter.png").string(), "PCA", "PC1", "PC2", ExampleScatter());
  rp::WriteMontage((dir / "figures/montage.png").string(),
                   { "A", "B" },
                   { { Patch(64, 64, 0).GetPointer(), Patch(64, 64, 60).GetPointer() },
                     { Patch(64, 64, 120).GetPointer(), Patch(64, 64, 180).GetPointer() } },
                   { "real", "generated" });
  itk::MicrostructureTable t({ "condition", "vf" });
  t.AddRow({ "A", "0.25" });
  t.AddRow({ "B", "0.5" });
  t.Write((dir / "tables/vf.csv").string());
  rp::WriteTableJson((dir / "tables/vf.json").string(), t);
  rp::HtmlReport page;
  page.SetTitle("Report check");
  page.AddHeading("Tables", 2);
  page.AddTable(t, "Volume fraction", 10, "tables/vf.csv");
  page.AddHeading("Figures", 2);
  for (const char * f : { "box", "curves", "scatter", "montage" })
  {
    page.AddFigure(std::string("figures/") + f + ".png", f);
  }
  page.Write((dir / "index.html").string());

  const std::string url = "file://" + fs::absolute(dir / "index.html").string();
  const std::string flags =
    "--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=" + (dir / "profile").string() + " ";
  const std::string shot = (dir / "shot.png").string();
  const std::string dom = (dir / "dom.html").string();
  const std::string cmd1 = "timeout 90 /usr/bin/chromium " + flags + "--screenshot=" + shot +
                           " --window-size=1000,1400 '" + url + "' > " + (dir / "chromium1.log").string() + " 2>&1";
  const std::string cmd2 = "timeout 90 /usr/bin/chromium " + flags + "--dump-dom '" + url + "' > " + dom + " 2> " +
                           (dir / "chromium2.log").string();
  EXPECT_EQ(std::system(cmd1.c_str()), 0) << cmd1;
  EXPECT_EQ(std::system(cmd2.c_str()), 0) << cmd2;
  ASSERT_TRUE(fs::exists(shot));
  const auto im = ReadRgb(shot);
  EXPECT_EQ(im.Width, 1000u);
  EXPECT_EQ(im.Height, 1400u);
  EXPECT_GE(DistinctColours(im), 20u);
  // The figures are painted: the box plot's fill colours appear in the page.
  EXPECT_GT(CountColour(im, OverWhite(0, 200.0 / 255.0), 30), 100u);
  std::ifstream     in(dom);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string d = ss.str();
  std::size_t       imgs = 0;
  for (auto p = d.find("<img"); p != std::string::npos; p = d.find("<img", p + 1))
  {
    ++imgs;
  }
  EXPECT_EQ(imgs, 4u) << d.substr(0, 2000);
  EXPECT_NE(d.find("<table"), std::string::npos);
  EXPECT_NE(d.find("Volume fraction"), std::string::npos);
}
