// Tests of itk::MicrostructureDescriptorsImageFilter against analytic truth: stripes,
// checkerboards, discs, square grain grids (ASTM E112 table rows), and a brute-force
// reference on random images.
#include "itkMicrostructureDescriptorsImageFilter.h"
#include "itkLabelImageTestHelper.h"
#include "itkTestingMacros.h"

#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <functional>
#include <random>

namespace
{
using LabelImage = itk::Image<unsigned char, 2>;
using Filter = itk::MicrostructureDescriptorsImageFilter<LabelImage>;
using Rule = itk::MicrostructureDescriptorsEnums::EdgeRule;
using Phase = itk::MicrostructureDescriptorsEnums::Phase;
using Direction = itk::MicrostructureDescriptorsEnums::Direction;

LabelImage::Pointer
Make(unsigned w, unsigned h, const std::function<bool(int, int)> & fg, double sx = 1.0, double sy = 1.0)
{
  return sm_test::MakeLabelImage(w, h, fg, sx, sy);
}

Filter::Pointer
Measure(const LabelImage * image, Rule rule = Rule::ASTMHalfCount, unsigned spacing = 1, unsigned offset = 0,
        bool edgeChords = false, unsigned workUnits = 1)
{
  auto filter = Filter::New();
  filter->SetInput(image);
  filter->SetEdgeRule(rule);
  filter->SetLineSpacing(spacing);
  filter->SetLineOffset(offset);
  filter->SetIncludeEdgeChords(edgeChords);
  filter->SetNumberOfWorkUnits(workUnits);
  filter->Update();
  return filter;
}

int
ExerciseBasics()
{
  auto filter = Filter::New();
  ITK_EXERCISE_BASIC_OBJECT_METHODS(filter, MicrostructureDescriptorsImageFilter, WholeImageMeasurementFilter);
  ITK_TEST_SET_GET_VALUE(1, filter->GetForegroundValue());
  ITK_TEST_SET_GET_VALUE(1u, filter->GetLineSpacing());
  ITK_TEST_SET_GET_BOOLEAN(filter, IncludeEdgeChords, true);
  return EXIT_SUCCESS;
}

// Column stripes: foreground where (x + shift) mod 20 < 10, 100 x 40.
bool
Stripe(int x, int shift)
{
  return (x + shift) % 20 < 10;
}
} // namespace

TEST(MicrostructureDescriptors, BasicObjectMethodsAndPassThrough)
{
  EXPECT_EQ(ExerciseBasics(), EXIT_SUCCESS);
  const auto image = Make(10, 10, [](int x, int) { return x < 3; });
  auto       filter = Measure(image);
  EXPECT_EQ(filter->GetOutput()->GetBufferPointer(), image->GetBufferPointer());
  EXPECT_DOUBLE_EQ(filter->GetVolumeFractionOutput()->Get(), 0.3);
  EXPECT_EQ(filter->GetForegroundPixelCount(), 30u);
}

TEST(MicrostructureDescriptors, StripesUnderBothEdgeRules)
{
  // Stripes width 10, period 20, first stripe at x = 0: each row has 5 foreground segments,
  // the first cut by the left edge; each foreground column is one segment spanning the line.
  const auto image = Make(100, 40, [](int x, int) { return Stripe(x, 0); });
  {
    auto f = Measure(image, Rule::ASTMHalfCount);
    EXPECT_DOUBLE_EQ(f->GetVolumeFraction(), 0.5);
    const auto & h = f->GetHorizontalIntercepts();
    EXPECT_EQ(h.NumberOfLines, 40u);
    EXPECT_DOUBLE_EQ(h.TestLineLength, 4000.0);
    EXPECT_DOUBLE_EQ(h.ForegroundLength, 2000.0);
    EXPECT_DOUBLE_EQ(h.LineFraction, 0.5);
    EXPECT_EQ(h.InteriorSegments, 160u);
    EXPECT_EQ(h.EdgeSegments, 40u);
    EXPECT_DOUBLE_EQ(h.InterceptCount, 40 * 4.5);
    EXPECT_DOUBLE_EQ(h.InterceptsPerLength, 4.5 / 100.0);
    EXPECT_DOUBLE_EQ(f->GetMeanFreePathHorizontal(), 50.0 / 4.5);
    const auto & v = f->GetVerticalIntercepts();
    EXPECT_EQ(v.NumberOfLines, 100u);
    EXPECT_DOUBLE_EQ(v.InterceptCount, 50 * 0.5); // whole-line segment: 1/2
    EXPECT_DOUBLE_EQ(f->GetMeanFreePathVertical(), 80.0);
    EXPECT_DOUBLE_EQ(f->GetMeanFreePath(), 4000.0 / (180.0 + 25.0));
  }
  {
    auto f = Measure(image, Rule::WholeCount);
    EXPECT_DOUBLE_EQ(f->GetMeanFreePathHorizontal(), 10.0);
    EXPECT_DOUBLE_EQ(f->GetMeanFreePathVertical(), 40.0);
    EXPECT_DOUBLE_EQ(f->GetMeanFreePath(), 4000.0 / (200.0 + 50.0));
  }
  // Shifted by 5: no horizontal segment touches an edge, both rules agree on d_f = 10.
  const auto inner = Make(100, 40, [](int x, int) { return Stripe(x, 15); });
  EXPECT_DOUBLE_EQ(Measure(inner, Rule::ASTMHalfCount)->GetMeanFreePathHorizontal(), 10.0);
  EXPECT_DOUBLE_EQ(Measure(inner, Rule::WholeCount)->GetMeanFreePathHorizontal(), 10.0);
}

TEST(MicrostructureDescriptors, StripeChordLengths)
{
  const auto image = Make(100, 40, [](int x, int) { return Stripe(x, 0); });
  auto       f = Measure(image);
  // Interior chords only: per row 4 foreground and 4 background chords of 10; none vertical.
  const auto & fgH = f->GetChordLengthHistogram(Phase::Foreground, Direction::Horizontal);
  ASSERT_EQ(fgH.size(), 101u);
  EXPECT_EQ(fgH[10], 160u);
  EXPECT_EQ(std::accumulate(fgH.begin(), fgH.end(), itk::SizeValueType{ 0 }), 160u);
  EXPECT_EQ(f->GetChordLengthHistogram(Phase::Background, Direction::Horizontal)[10], 160u);
  EXPECT_DOUBLE_EQ(f->GetMeanChordLength(Phase::Foreground, Direction::Horizontal), 10.0);
  EXPECT_TRUE(std::isnan(f->GetMeanChordLength(Phase::Foreground, Direction::Vertical)));
  // With edge chords: 5 + 5 per row, and 50 + 50 whole columns of 40.
  auto g = Measure(image, Rule::ASTMHalfCount, 1, 0, true);
  EXPECT_EQ(g->GetChordLengthHistogram(Phase::Foreground, Direction::Horizontal)[10], 200u);
  EXPECT_EQ(g->GetChordLengthHistogram(Phase::Background, Direction::Horizontal)[10], 200u);
  EXPECT_EQ(g->GetChordLengthHistogram(Phase::Foreground, Direction::Vertical)[40], 50u);
  EXPECT_DOUBLE_EQ(g->GetMeanChordLength(Phase::Background, Direction::Vertical), 40.0);
}

TEST(MicrostructureDescriptors, Checkerboard)
{
  // 8-pixel squares on 64 x 64: every row and column has 3 interior segments and 1 cut one.
  const auto image = Make(64, 64, [](int x, int y) { return ((x / 8) + (y / 8)) % 2 == 0; });
  auto       a = Measure(image, Rule::ASTMHalfCount);
  EXPECT_DOUBLE_EQ(a->GetVolumeFraction(), 0.5);
  EXPECT_DOUBLE_EQ(a->GetMeanFreePathHorizontal(), 32.0 / 3.5);
  EXPECT_DOUBLE_EQ(a->GetMeanFreePathVertical(), 32.0 / 3.5);
  EXPECT_DOUBLE_EQ(a->GetMeanFreePath(), 32.0 / 3.5);
  auto w = Measure(image, Rule::WholeCount);
  EXPECT_DOUBLE_EQ(w->GetMeanFreePath(), 8.0);
  EXPECT_DOUBLE_EQ(w->GetMeanChordLength(Phase::Foreground, Direction::Vertical), 8.0);
  EXPECT_DOUBLE_EQ(w->GetMeanChordLength(Phase::Background, Direction::Horizontal), 8.0);
  // Line spacing 8: 8 lines per direction, same ratios.
  auto s = Measure(image, Rule::ASTMHalfCount, 8, 3);
  EXPECT_EQ(s->GetHorizontalIntercepts().NumberOfLines, 8u);
  EXPECT_DOUBLE_EQ(s->GetHorizontalIntercepts().InterceptCount, 8 * 3.5);
  EXPECT_DOUBLE_EQ(s->GetMeanFreePath(), 32.0 / 3.5);
}

TEST(MicrostructureDescriptors, LineSpacingAndOffsetPickTheLines)
{
  // 50 x 40: rows y % 4 == 0 all foreground, other rows foreground on x in [10, 16).
  const auto image = Make(50, 40, [](int x, int y) { return y % 4 == 0 || (x >= 10 && x < 16); });
  auto       onFull = Measure(image, Rule::ASTMHalfCount, 4, 0);
  EXPECT_EQ(onFull->GetHorizontalIntercepts().NumberOfLines, 10u);
  EXPECT_DOUBLE_EQ(onFull->GetHorizontalIntercepts().InterceptCount, 10 * 0.5);
  EXPECT_DOUBLE_EQ(onFull->GetMeanFreePathHorizontal(), 100.0);
  EXPECT_DOUBLE_EQ(Measure(image, Rule::WholeCount, 4, 0)->GetMeanFreePathHorizontal(), 50.0);
  // Vertical lines x = 0, 4, ..., 48: x = 12 is all foreground (1/2), the 12 others have ten
  // 1-pixel segments, the one at y = 0 cut by the top edge.
  const auto & v = onFull->GetVerticalIntercepts();
  EXPECT_EQ(v.NumberOfLines, 13u);
  EXPECT_DOUBLE_EQ(v.ForegroundLength, 12 * 10 + 40);
  EXPECT_DOUBLE_EQ(v.InterceptCount, 12 * 9.5 + 0.5);
  EXPECT_DOUBLE_EQ(Measure(image, Rule::WholeCount, 4, 0)->GetVerticalIntercepts().InterceptCount, 12 * 10 + 1);
  auto offset = Measure(image, Rule::ASTMHalfCount, 4, 1);
  EXPECT_EQ(offset->GetHorizontalIntercepts().NumberOfLines, 10u);
  EXPECT_DOUBLE_EQ(offset->GetMeanFreePathHorizontal(), 6.0);
  // An offset beyond the image leaves no lines: N = 0 -> NaN, no crash.
  auto none = Measure(image, Rule::ASTMHalfCount, 4, 100);
  EXPECT_EQ(none->GetHorizontalIntercepts().NumberOfLines, 0u);
  EXPECT_TRUE(std::isnan(none->GetMeanFreePath()));
  EXPECT_DOUBLE_EQ(none->GetVolumeFraction(), onFull->GetVolumeFraction());
}

TEST(MicrostructureDescriptors, PhysicalSpacing)
{
  const auto image = Make(
    100, 40, [](int x, int) { return Stripe(x, 0); }, 0.5, 2.0);
  auto f = Measure(image);
  EXPECT_DOUBLE_EQ(f->GetMeanFreePathHorizontalPhysical(), 0.5 * 50.0 / 4.5);
  EXPECT_DOUBLE_EQ(f->GetMeanFreePathVerticalPhysical(), 2.0 * 80.0);
  EXPECT_DOUBLE_EQ(f->GetMeanFreePathPhysical(), (2000.0 * 0.5 + 2000.0 * 2.0) / 205.0);
  EXPECT_DOUBLE_EQ(f->GetMeanFreePath(), 4000.0 / 205.0); // pixels are unaffected
  EXPECT_DOUBLE_EQ(f->GetHorizontalIntercepts().Spacing, 0.5);
}

TEST(MicrostructureDescriptors, DiscAreaFractionAndCauchyMeanChord)
{
  // One disc of radius 30 in 128 x 128: area fraction pi R^2 / A (pixelisation ~1%), and the
  // mean chord of a disc along parallel lines is pi R / 2 (area / projected width).
  const double R = 30.0;
  const auto   image = Make(128, 128, [R](int x, int y) {
    const double dx = x - 63.5, dy = y - 63.5;
    return dx * dx + dy * dy <= R * R;
  });
  auto         f = Measure(image);
  const double vf = M_PI * R * R / (128.0 * 128.0);
  EXPECT_NEAR(f->GetVolumeFraction(), vf, 0.01 * vf);
  EXPECT_NEAR(f->GetMeanFreePathHorizontal(), M_PI * R / 2.0, 0.02 * M_PI * R / 2.0);
  EXPECT_NEAR(f->GetMeanFreePathVertical(), M_PI * R / 2.0, 0.02 * M_PI * R / 2.0);
  // Every chord is interior: the chord mean equals the mean free path.
  EXPECT_DOUBLE_EQ(f->GetMeanChordLength(Phase::Foreground, Direction::Horizontal), f->GetMeanFreePathHorizontal());
  // A 4 x 4 lattice of discs of radius 10 in 128 x 128 (period 32).
  const auto lattice = Make(128, 128, [](int x, int y) {
    const double dx = (x % 32) - 15.5, dy = (y % 32) - 15.5;
    return dx * dx + dy * dy <= 100.0;
  });
  auto       g = Measure(lattice);
  EXPECT_NEAR(g->GetVolumeFraction(), 16 * M_PI * 100.0 / (128.0 * 128.0), 0.02 * 16 * M_PI * 100.0 / 16384.0);
  EXPECT_NEAR(g->GetMeanFreePath(), M_PI * 10.0 / 2.0, 0.03 * M_PI * 5.0);
}

TEST(MicrostructureDescriptors, GrainSizeNumberMatchesASTME112Table)
{
  // Square grains: 1-pixel boundaries (background) every p pixels; test lines through the
  // grain centres (spacing p, offset p/2). Per line n - 1 interior intercepts and one cut by the
  // image edge (1/2), so the mean intercept is n p / (n - 1/2) pixels (ASTM) or p (whole count).
  const unsigned p = 20, n = 10;
  const auto     grains = [p](int x, int y) { return x % p != 0 && y % p != 0; };
  struct Row
  {
    double G;
    double interceptMillimetres; // ASTM E112 Table 4
  };
  for (const Row row : { Row{ 7.0, 0.0283 }, Row{ 10.0, 0.0100 }, Row{ 0.0, 0.320 }, Row{ 5.0, 0.0566 } })
  {
    // Spacing (um) that makes the mean intercept equal to the table's.
    const double meanInterceptPixels = n * p / (n - 0.5);
    const double spacing = row.interceptMillimetres * 1000.0 / meanInterceptPixels;
    const auto   image = Make(n * p, n * p, grains, spacing, spacing);
    auto         f = Measure(image, Rule::ASTMHalfCount, p, p / 2);
    EXPECT_DOUBLE_EQ(f->GetHorizontalIntercepts().InterceptCount, n * (n - 0.5));
    const double NL = 2 * n * (n - 0.5) / (2 * n * (n * p) * spacing / 1000.0);
    EXPECT_NEAR(f->GetGrainSizeNumber(), 6.643856 * std::log10(NL) - 3.288, 1e-9);
    EXPECT_NEAR(f->GetGrainSizeNumber(), row.G, 0.01) << "table row G = " << row.G;
    // Whole count: the intercept is exactly p pixels.
    auto         w = Measure(image, Rule::WholeCount, p, p / 2);
    const double G = -6.643856 * std::log10(p * spacing / 1000.0) - 3.288;
    EXPECT_NEAR(w->GetGrainSizeNumber(), G, 1e-9);
  }
}

TEST(MicrostructureDescriptors, AgreesWithBruteForceReferenceForAnyWorkUnits)
{
  // Reference: count runs by their start pixel; edge runs from the two end pixels.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 6; ++trial)
  {
    const unsigned              w = 20 + 17 * trial, h = 13 + 11 * trial;
    std::bernoulli_distribution coin(0.3 + 0.08 * trial);
    std::vector<unsigned char>  pix(w * h);
    for (auto & v : pix)
    {
      v = coin(rng) ? 1 : (trial % 2 ? 0 : 7); // non-foreground may be any value
    }
    const auto image = Make(w, h, [&](int x, int y) { return pix[y * w + x] == 1; });
    std::copy(pix.begin(), pix.end(), image->GetBufferPointer());
    const unsigned spacing = 1 + trial % 3, offset = trial % 2;
    for (const Rule rule : { Rule::ASTMHalfCount, Rule::WholeCount })
    {
      double       fgLen[2] = { 0, 0 }, count[2] = { 0, 0 };
      const double edgeWeight = rule == Rule::ASTMHalfCount ? 0.5 : 1.0;
      for (unsigned d = 0; d < 2; ++d)
      {
        const unsigned lines = d == 0 ? h : w, len = d == 0 ? w : h;
        for (unsigned l = offset; l < lines; l += spacing)
        {
          auto     at = [&](unsigned i) { return d == 0 ? pix[l * w + i] == 1 : pix[i * w + l] == 1; };
          unsigned runs = 0, fg = 0;
          for (unsigned i = 0; i < len; ++i)
          {
            fg += at(i);
            runs += at(i) && (i == 0 || !at(i - 1));
          }
          const unsigned edgeRuns = at(0) + at(len - 1) - (fg == len ? 1 : 0);
          fgLen[d] += fg;
          count[d] += (runs - edgeRuns) + edgeWeight * edgeRuns;
        }
      }
      for (const unsigned units : { 1u, 3u, 8u })
      {
        auto f = Measure(image, rule, spacing, offset, false, units);
        EXPECT_DOUBLE_EQ(f->GetHorizontalIntercepts().ForegroundLength, fgLen[0]);
        EXPECT_DOUBLE_EQ(f->GetVerticalIntercepts().ForegroundLength, fgLen[1]);
        EXPECT_DOUBLE_EQ(f->GetHorizontalIntercepts().InterceptCount, count[0]) << trial << " " << units;
        EXPECT_DOUBLE_EQ(f->GetVerticalIntercepts().InterceptCount, count[1]) << trial << " " << units;
        EXPECT_DOUBLE_EQ(f->GetVolumeFraction(), static_cast<double>(std::count(pix.begin(), pix.end(), 1)) / (w * h));
      }
    }
  }
}

TEST(MicrostructureDescriptors, ForegroundValueSelectsThePhase)
{
  // Labels 0 / 255: measuring 255 or 0 gives the two phases' mean free paths.
  auto image = Make(100, 40, [](int x, int) { return Stripe(x, 15); });
  for (unsigned i = 0; i < 4000; ++i)
  {
    image->GetBufferPointer()[i] *= 255;
  }
  auto f = Filter::New();
  f->SetInput(image);
  f->SetForegroundValue(255);
  f->SetNumberOfWorkUnits(1);
  f->Update();
  EXPECT_DOUBLE_EQ(f->GetVolumeFraction(), 0.5);
  EXPECT_DOUBLE_EQ(f->GetMeanFreePathHorizontal(), 10.0);
  f->SetForegroundValue(0);
  f->Update();
  // Background of x+15 stripes: [0,5) cut, 3 interior of 10, [95,100) cut -> 40 / 4.
  EXPECT_DOUBLE_EQ(f->GetMeanFreePathHorizontal(), 40.0 / 4.0);
}

TEST(MicrostructureDescriptors, BadInputIsAClearError)
{
  auto                   empty = LabelImage::New();
  LabelImage::RegionType region;
  region.SetSize(0, 7);
  region.SetSize(1, 0);
  empty->SetRegions(region);
  empty->Allocate();
  auto f = Filter::New();
  f->SetInput(empty);
  try
  {
    f->Update();
    FAIL() << "expected an exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("empty"), std::string::npos) << e.GetDescription();
  }
  auto g = Filter::New();
  g->SetInput(Make(5, 5, [](int, int) { return true; }));
  g->SetLineSpacing(0);
  EXPECT_THROW(g->Update(), itk::ExceptionObject);
  auto noInput = Filter::New();
  EXPECT_THROW(noInput->Update(), itk::ExceptionObject);
  // A 3D image does not compile: static_assert in the class (2D only).
}
