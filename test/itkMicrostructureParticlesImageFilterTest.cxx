// Tests of itk::MicrostructureParticlesImageFilter and itk::LabelMicrostructureParticles against
// analytic truth: digital discs of known radius, the edge and counting-frame rules, 4- against
// 8-connectivity, OpenCV's labelling against ITK's on random images, and a stationary field of
// discs on a torus, where the counting frame and the Miles-Lantuejoul weights must be unbiased
// over window positions while the naive estimates are not.
#include "itkMicrostructureParticlesImageFilter.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkMicrostructureSummary.h"
#include "itkLabelImageTestHelper.h"
#include "itkTestingMacros.h"

#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <functional>
#include <random>
#include <tuple>

namespace
{
using LabelImage = itk::Image<unsigned char, 2>;
using Filter = itk::MicrostructureParticlesImageFilter<LabelImage>;
using Labeling = itk::MicrostructureParticlesEnums::Labeling;

LabelImage::Pointer
Make(unsigned w, unsigned h, const std::function<bool(int, int)> & fg, double sx = 1.0, double sy = 1.0)
{
  return sm_test::MakeLabelImage(w, h, fg, sx, sy);
}

struct Disc
{
  int cx, cy, r;
  bool
  Contains(int x, int y) const
  {
    return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
  }
};

Filter::Pointer
Measure(const LabelImage * image, bool fullyConnected = false, Labeling labeling = Labeling::Automatic)
{
  auto filter = Filter::New();
  filter->SetInput(image);
  filter->SetFullyConnected(fullyConnected);
  filter->SetLabeling(labeling);
  filter->Update();
  return filter;
}

int
ExerciseBasics()
{
  auto filter = Filter::New();
  ITK_EXERCISE_BASIC_OBJECT_METHODS(filter, MicrostructureParticlesImageFilter, WholeImageMeasurementFilter);
  ITK_TEST_SET_GET_VALUE(1, filter->GetForegroundValue());
  ITK_TEST_SET_GET_BOOLEAN(filter, FullyConnected, true);
  return EXIT_SUCCESS;
}

auto
Key(const itk::MicrostructureParticle & p)
{
  return std::tuple(p.Left, p.Top, p.Width, p.Height, p.Area, p.TouchesEdge, p.Counted, p.Weight);
}
} // namespace

TEST(MicrostructureParticles, DiscsOfKnownRadiusHaveTheirDiameterAndBox)
{
  const std::vector<Disc> discs = { { 30, 40, 5 }, { 100, 50, 8 }, { 60, 140, 12 } };
  const double            sx = 0.5, sy = 0.25;
  const auto              image = Make(
    200,
    180,
    [&](int x, int y) {
      return std::any_of(discs.begin(), discs.end(), [&](const Disc & d) { return d.Contains(x, y); });
    },
    sx,
    sy);
  const auto   filter = Measure(image);
  const auto & particles = filter->GetParticles();
  ASSERT_EQ(particles.size(), 3u);
  // Sorted by top row: the discs at y = 40, 50, 140.
  double weightSum = 0.0, weighted = 0.0;
  for (size_t i = 0; i < 3; ++i)
  {
    const Disc & d = discs[i];
    const auto & p = particles[i];
    EXPECT_EQ(p.Left, static_cast<itk::SizeValueType>(d.cx - d.r));
    EXPECT_EQ(p.Top, static_cast<itk::SizeValueType>(d.cy - d.r));
    EXPECT_EQ(p.Width, static_cast<itk::SizeValueType>(2 * d.r + 1));
    EXPECT_EQ(p.Height, static_cast<itk::SizeValueType>(2 * d.r + 1));
    // A digital disc has pi r^2 + O(r) pixels: its equivalent diameter is 2r within 2 %.
    EXPECT_NEAR(p.EquivalentDiameter, 2.0 * d.r, 0.02 * 2.0 * d.r) << "r = " << d.r;
    EXPECT_DOUBLE_EQ(p.EquivalentDiameterPhysical, p.EquivalentDiameter * std::sqrt(sx * sy));
    EXPECT_FALSE(p.TouchesEdge);
    EXPECT_TRUE(p.Counted);
    const double expectedWeight = 199.0 * 179.0 / ((199.0 - p.Width) * (179.0 - p.Height));
    EXPECT_DOUBLE_EQ(p.Weight, expectedWeight);
    weightSum += expectedWeight;
    weighted += expectedWeight * p.EquivalentDiameter;
  }
  EXPECT_EQ(filter->GetNumberOfCountedParticles(), 3u);
  EXPECT_EQ(filter->GetNumberOfInteriorParticles(), 3u);
  EXPECT_DOUBLE_EQ(filter->GetParticleDensity(), 3.0 / (199.0 * 179.0 * sx * sy));
  EXPECT_DOUBLE_EQ(filter->GetMeanEquivalentDiameter(), weighted / weightSum);
  EXPECT_DOUBLE_EQ(filter->GetMeanEquivalentDiameterPhysical(), weighted / weightSum * std::sqrt(sx * sy));
  // The image passes through.
  EXPECT_EQ(filter->GetOutput()->GetBufferPointer(), image->GetBufferPointer());
}

TEST(MicrostructureParticles, TheEdgeAndCountingFrameRules)
{
  // Discs cut by the left, top, right and bottom edges, and one inside.
  const std::vector<Disc> discs = { { 0, 50, 6 }, { 50, 0, 6 }, { 99, 40, 6 }, { 40, 79, 6 }, { 60, 50, 6 } };
  const auto              image = Make(100, 80, [&](int x, int y) {
    return std::any_of(discs.begin(), discs.end(), [&](const Disc & d) { return d.Contains(x, y); });
  });
  const auto              filter = Measure(image);
  ASSERT_EQ(filter->GetParticles().size(), 5u);
  std::map<std::pair<itk::SizeValueType, itk::SizeValueType>, itk::MicrostructureParticle> byCorner;
  for (const auto & p : filter->GetParticles())
    byCorner[{ p.Left, p.Top }] = p;
  const auto & left = byCorner.at({ 0, 44 });
  const auto & top = byCorner.at({ 44, 0 });
  const auto & right = byCorner.at({ 93, 34 });
  const auto & bottom = byCorner.at({ 34, 73 });
  const auto & inside = byCorner.at({ 54, 44 });
  for (const auto * p : { &left, &top, &right, &bottom })
  {
    EXPECT_TRUE(p->TouchesEdge);
    EXPECT_EQ(p->Weight, 0.0);
  }
  // Counted: cut by the left or top edge (the inclusion sides), not by the right or bottom one.
  EXPECT_TRUE(left.Counted);
  EXPECT_TRUE(top.Counted);
  EXPECT_FALSE(right.Counted);
  EXPECT_FALSE(bottom.Counted);
  EXPECT_TRUE(inside.Counted);
  EXPECT_FALSE(inside.TouchesEdge);
  EXPECT_EQ(left.Width, 7u); // half a disc of radius 6: columns 0..6
  EXPECT_EQ(filter->GetNumberOfCountedParticles(), 3u);
  EXPECT_EQ(filter->GetNumberOfInteriorParticles(), 1u);
  EXPECT_DOUBLE_EQ(filter->GetParticleDensity(), 3.0 / (99.0 * 79.0));
  // Only the interior disc enters the diameter.
  EXPECT_DOUBLE_EQ(filter->GetMeanEquivalentDiameter(), inside.EquivalentDiameter);
}

TEST(MicrostructureParticles, NoParticleAndDegenerateImages)
{
  const auto none = Measure(Make(20, 10, [](int, int) { return false; }));
  EXPECT_TRUE(none->GetParticles().empty());
  EXPECT_EQ(none->GetParticleDensity(), 0.0);
  EXPECT_TRUE(std::isnan(none->GetMeanEquivalentDiameter()));
  // Everything foreground: one particle, cut by every edge, counted nowhere.
  const auto all = Measure(Make(20, 10, [](int, int) { return true; }));
  ASSERT_EQ(all->GetParticles().size(), 1u);
  EXPECT_EQ(all->GetParticles()[0].Area, 200u);
  EXPECT_TRUE(all->GetParticles()[0].TouchesEdge);
  EXPECT_FALSE(all->GetParticles()[0].Counted);
  // One row: no frame area.
  EXPECT_TRUE(std::isnan(Measure(Make(20, 1, [](int x, int) { return x % 3 == 0; }))->GetParticleDensity()));
  // Another foreground value.
  auto image = Make(10, 10, [](int x, int y) { return x > 2 && x < 6 && y > 2 && y < 6; });
  for (unsigned i = 0; i < 100; ++i)
    image->GetBufferPointer()[i] *= 7;
  auto filter = Filter::New();
  filter->SetInput(image);
  filter->SetForegroundValue(7);
  filter->Update();
  ASSERT_EQ(filter->GetParticles().size(), 1u);
  EXPECT_EQ(filter->GetParticles()[0].Area, 9u);
}

TEST(MicrostructureParticles, EmptyImageIsRefused)
{
  EXPECT_THROW(itk::LabelMicrostructureParticles(nullptr, 0, 4, false, Labeling::Automatic), itk::ExceptionObject);
  auto filter = Filter::New();
  filter->SetInput(LabelImage::New());
  EXPECT_THROW(filter->Update(), itk::ExceptionObject);
  EXPECT_EQ(ExerciseBasics(), EXIT_SUCCESS);
}

TEST(MicrostructureParticles, FaceConnectivityKeepsGrainsApartAtDiagonalSteps)
{
  // Two 3 x 3 squares meeting at one corner, and a diagonal line of 5 pixels.
  const auto image = Make(20, 20, [](int x, int y) {
    const bool a = x >= 2 && x <= 4 && y >= 2 && y <= 4, b = x >= 5 && x <= 7 && y >= 5 && y <= 7;
    const bool line = x >= 12 && x <= 16 && y == x - 2;
    return a || b || line;
  });
  EXPECT_EQ(Measure(image, false)->GetParticles().size(), 7u); // 2 squares + 5 single pixels
  EXPECT_EQ(Measure(image, true)->GetParticles().size(), 2u);  // one pair of squares + one line
}

TEST(MicrostructureParticles, OpenCVAndITKLabelAlike)
{
  if (!itk::MicrostructureParticlesHaveOpenCV())
    GTEST_SKIP() << "built without OpenCV: only the ITK labelling exists";
  std::mt19937 random(20261207);
  for (const double p : { 0.3, 0.5, 0.6 })
  {
    for (const bool full : { false, true })
    {
      std::bernoulli_distribution coin(p);
      const auto                  image = Make(97, 61, [&](int, int) { return coin(random); });
      const auto                  a = Measure(image, full, Labeling::OpenCV)->GetParticles();
      const auto                  b = Measure(image, full, Labeling::ITK)->GetParticles();
      ASSERT_EQ(a.size(), b.size()) << "p " << p << " full " << full;
      ASSERT_GT(a.size(), 2u);
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_EQ(Key(a[i]), Key(b[i])) << "particle " << i << ", p " << p << " full " << full;
    }
  }
}

// A stationary field: discs of radius 2..9 on a 288 x 288 torus, one per 24 px cell (jittered, three
// cells in four occupied, never touching). Windows of 49 x 49 at every offset (82944 windows) estimate
// the number per area and the mean diameter. A disc of box w x h lies wholly inside (48 - w)(48 - h)
// windows, with weight 48^2 / ((48 - w)(48 - h)) there: the weighted mean diameter is exact. Each
// disc's box corner lies in the 48 x 48 counting frame of exactly 48^2 windows, but a disc cut by the
// top or left edge shows a narrower box than its own (its widest row is cut off), so it is also
// counted in some windows where its own corner lies beyond the frame: the frame overcounts rounded
// particles slightly (+0.55 % here, mean diameter / window 0.21), where counting every particle seen
// overcounts by 46 %.
TEST(MicrostructureParticles, CountingFrameAndWeightsAreUnbiasedOverWindowPositions)
{
  constexpr int     field = 288, cell = 24, window = 49, step = 1;
  std::mt19937      random(7);
  std::vector<Disc> discs;
  for (int cy = 0; cy < field / cell; ++cy)
    for (int cx = 0; cx < field / cell; ++cx)
    {
      if (std::uniform_int_distribution<int>(0, 3)(random) == 0)
        continue;
      const int r = std::uniform_int_distribution<int>(2, 9)(random);
      const int slack = cell / 2 - r - 1; // keeps a gap of at least one pixel to the next cell
      discs.push_back({ cx * cell + cell / 2 + std::uniform_int_distribution<int>(-slack, slack)(random),
                        cy * cell + cell / 2 + std::uniform_int_distribution<int>(-slack, slack)(random),
                        r });
    }
  std::vector<unsigned char> torus(field * field, 0);
  for (const auto & d : discs)
    for (int y = d.cy - d.r; y <= d.cy + d.r; ++y)
      for (int x = d.cx - d.r; x <= d.cx + d.r; ++x)
        if (d.Contains(x, y))
          torus[((y + field) % field) * field + (x + field) % field] = 1;
  const double trueDensity = static_cast<double>(discs.size()) / (field * field);
  double       trueDiameter = 0.0;
  for (const auto & d : discs)
  {
    int area = 0;
    for (int y = -d.r; y <= d.r; ++y)
      for (int x = -d.r; x <= d.r; ++x)
        area += x * x + y * y <= d.r * d.r;
    trueDiameter += 2.0 * std::sqrt(area / M_PI) / static_cast<double>(discs.size());
  }

  double counted = 0.0, seen = 0.0, weights = 0.0, weighted = 0.0, interior = 0.0, interiorSum = 0.0;
  size_t windows = 0;
  std::vector<unsigned char> crop(window * window);
  for (int oy = 0; oy < field; oy += step)
    for (int ox = 0; ox < field; ox += step)
    {
      for (int y = 0; y < window; ++y)
        for (int x = 0; x < window; ++x)
          crop[y * window + x] = torus[((oy + y) % field) * field + (ox + x) % field];
      for (const auto & p : itk::LabelMicrostructureParticles(crop.data(), window, window, false, Labeling::Automatic))
      {
        seen += 1.0;
        counted += p.Counted ? 1.0 : 0.0;
        weights += p.Weight;
        weighted += p.Weight * p.EquivalentDiameter;
        interior += p.TouchesEdge ? 0.0 : 1.0;
        interiorSum += p.TouchesEdge ? 0.0 : p.EquivalentDiameter;
      }
      ++windows;
    }
  const double frame = static_cast<double>(windows) * (window - 1) * (window - 1);
  const double frameDensity = counted / frame, naiveDensity = seen / (static_cast<double>(windows) * window * window);
  const double weightedDiameter = weighted / weights, interiorDiameter = interiorSum / interior;
  std::cout << discs.size() << " discs; density: true " << trueDensity << ", counting frame " << frameDensity
            << ", every particle seen " << naiveDensity << "; mean diameter: true " << trueDiameter << ", weighted "
            << weightedDiameter << ", interior unweighted " << interiorDiameter << "\n";
  EXPECT_NEAR(frameDensity / trueDensity, 1.0, 0.01);
  EXPECT_GT(naiveDensity / trueDensity, 1.15); // the bias the frame removes
  EXPECT_NEAR(weightedDiameter / trueDiameter, 1.0, 1e-9);
  EXPECT_LT(interiorDiameter / trueDiameter, 0.95); // the bias the weights remove
}

TEST(MicrostructureParticles, StackMeasurementReportsTheFiltersFigures)
{
  using Stack = itk::Image<unsigned char, 3>;
  auto              stack = Stack::New();
  Stack::RegionType region;
  region.SetSize({ { 40, 30, 3 } });
  stack->SetRegions(region);
  Stack::SpacingType spacing;
  spacing.Fill(0.4);
  stack->SetSpacing(spacing);
  stack->Allocate();
  std::mt19937                random(3);
  std::bernoulli_distribution coin(0.4);
  for (size_t i = 0; i < 40 * 30 * 3; ++i)
    stack->GetBufferPointer()[i] = coin(random) ? 1 : 0;
  auto measure = itk::MicrostructureStackMeasurement<Stack>::New();
  measure->SetInput(stack);
  measure->SetInputIsBinary(true);
  measure->SetKeepParticles(true);
  measure->Update();
  ASSERT_EQ(measure->GetMeasurements().size(), 3u);
  for (unsigned k = 0; k < 3; ++k)
  {
    const auto slice = Make(
      40, 30, [&](int x, int y) { return stack->GetBufferPointer()[k * 1200 + y * 40 + x] == 1; }, 0.4, 0.4);
    const auto   filter = Measure(slice);
    const auto & m = measure->GetMeasurements()[k];
    EXPECT_EQ(m.ParticlesCounted, static_cast<double>(filter->GetNumberOfCountedParticles()));
    EXPECT_DOUBLE_EQ(m.ParticleDensityPhysical, filter->GetParticleDensity());
    EXPECT_DOUBLE_EQ(m.MeanParticleDiameter, filter->GetMeanEquivalentDiameter());
    EXPECT_DOUBLE_EQ(m.MeanParticleDiameterPhysical, filter->GetMeanEquivalentDiameterPhysical());
    ASSERT_EQ(m.Particles.size(), filter->GetParticles().size());
    for (size_t i = 0; i < m.Particles.size(); ++i)
      EXPECT_EQ(Key(m.Particles[i]), Key(filter->GetParticles()[i]));
  }
}

TEST(MicrostructureSummaryWeighted, WeightsActAsRepeatedValues)
{
  const std::vector<double> a = { 1.0, 2.0, 2.5, 4.0 }, b = { 0.5, 2.0, 3.0 };
  // Unit weights: the unweighted statistic.
  EXPECT_EQ(itk::MicrostructureSummary::WeightedKolmogorovSmirnovStatistic(a, { 1, 1, 1, 1 }, b, { 1, 1, 1 }),
            itk::MicrostructureSummary::KolmogorovSmirnovStatistic(a, b));
  // Integer weights: each value repeated that many times.
  const std::vector<double> aRepeated = { 1.0, 1.0, 1.0, 2.0, 2.5, 2.5, 4.0 }, bRepeated = { 0.5, 2.0, 2.0, 3.0 };
  EXPECT_DOUBLE_EQ(itk::MicrostructureSummary::WeightedKolmogorovSmirnovStatistic(a, { 3, 1, 2, 1 }, b, { 1, 2, 1 }),
                   itk::MicrostructureSummary::KolmogorovSmirnovStatistic(aRepeated, bRepeated));
  // Zero weights and NaNs are left out; a sample left empty is refused.
  EXPECT_DOUBLE_EQ(
    itk::MicrostructureSummary::WeightedKolmogorovSmirnovStatistic({ 1.0, NAN, 9.0 }, { 1, 1, 0 }, { 1.0 }, { 5 }),
    0.0);
  EXPECT_THROW(itk::MicrostructureSummary::WeightedKolmogorovSmirnovStatistic({ 1.0 }, { 0 }, { 1.0 }, { 1 }),
               itk::ExceptionObject);
  EXPECT_THROW(itk::MicrostructureSummary::WeightedKolmogorovSmirnovStatistic({ 1.0 }, { 1, 2 }, { 1.0 }, { 1 }),
               itk::ExceptionObject);
}
