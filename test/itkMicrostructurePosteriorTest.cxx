#include "itkMicrostructurePosterior.h"
#include "itkMacro.h"

#include <gtest/gtest.h>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace
{
using itk::MicrostructurePosterior;

std::vector<double>
Grid(double lo, double hi, int count)
{
  std::vector<double> g(count);
  for (int i = 0; i < count; ++i)
    g[i] = lo + (hi - lo) * i / (count - 1);
  return g;
}

/** Tiles whose log-likelihoods are Gaussian in the parameter, l_k(v) = -(x_k - v)^2 / (2 sigma^2):
 * each tile says "v is x_k, give or take sigma". ll[v][k]. */
std::vector<std::vector<double>>
GaussianTiles(const std::vector<double> & grid, const std::vector<double> & x, double sigma)
{
  std::vector<std::vector<double>> ll(grid.size(), std::vector<double>(x.size()));
  for (size_t v = 0; v < grid.size(); ++v)
    for (size_t k = 0; k < x.size(); ++k)
      ll[v][k] = -0.5 * (x[k] - grid[v]) * (x[k] - grid[v]) / (sigma * sigma);
  return ll;
}

/** n draws from N(mean, sd^2), from the seed. */
std::vector<double>
Draws(uint64_t seed, double mean, double sd, size_t n)
{
  std::mt19937_64                  engine(seed);
  std::normal_distribution<double> normal(mean, sd);
  std::vector<double>              x(n);
  for (auto & v : x)
    v = normal(engine);
  return x;
}

/** The independent pooling's log-likelihood: the tiles' sum at every grid value. */
std::vector<double>
Summed(const std::vector<std::vector<double>> & ll)
{
  std::vector<double> sum(ll.size(), 0.0);
  for (size_t v = 0; v < ll.size(); ++v)
    sum[v] = std::accumulate(ll[v].begin(), ll[v].end(), 0.0);
  return sum;
}

double
SampleVariance(const std::vector<double> & x)
{
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / x.size();
  double       s = 0;
  for (double v : x)
    s += (v - mean) * (v - mean);
  return s / (x.size() - 1);
}
} // namespace

TEST(MicrostructurePosterior, OverdispersedTilesGetTheSandwichWidth)
{
  // The tiles' x_k spread with sd 2 while each tile's likelihood says sd 1: the independent pooling
  // is twice too narrow. The sandwich: H = n / sigma^2, J = n S^2 / sigma^4, a = S^2 / sigma^2, and
  // the adjusted posterior is N(mean x, S^2 / n), exactly, for quadratic curves.
  const auto   x = Draws(7, 0.3, 2.0, 200);
  const auto   grid = Grid(-1.0, 1.5, 2501);
  const auto   s = MicrostructurePosterior::Pool(grid, GaussianTiles(grid, x, 1.0));
  const double S2 = SampleVariance(x);
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / x.size();
  EXPECT_NEAR(s.Adjustment, S2, 1e-6 * S2);
  EXPECT_FALSE(s.PeakAtEdge);
  EXPECT_NEAR(s.Mean, mean, 1e-6);
  const double half = 1.959964 * std::sqrt(S2 / x.size());
  EXPECT_NEAR(s.Lower95, mean - half, 0.002); // within the grid's step (0.001) and the cell rule
  EXPECT_NEAR(s.Upper95, mean + half, 0.002);
}

TEST(MicrostructurePosterior, AdjustedIntervalCoversAtItsLevelWhereTheIndependentOneDoesNot)
{
  // 400 repetitions of 50 overdispersed tiles (sd 2 against the model's 1) about the truth 0.3: the
  // adjusted 95 % interval holds the truth about 95 % of the time; the independent pooling (a = 1),
  // about 2 Phi(1.96 / 2) - 1 = 67 %.
  std::mt19937_64                  engine(11);
  std::normal_distribution<double> normal(0.3, 2.0);
  const auto                       grid = Grid(-2.0, 2.6, 461);
  int                              adjusted = 0, independent = 0;
  const int                        trials = 400;
  for (int t = 0; t < trials; ++t)
  {
    std::vector<double> x(50);
    for (auto & v : x)
      v = normal(engine);
    const auto ll = GaussianTiles(grid, x, 1.0);
    const auto s = MicrostructurePosterior::Pool(grid, ll);
    adjusted += s.Lower95 <= 0.3 && 0.3 <= s.Upper95;
    const auto naive = MicrostructurePosterior::Single(grid, Summed(ll));
    independent += naive.Lower95 <= 0.3 && 0.3 <= naive.Upper95;
  }
  EXPECT_GE(adjusted, 0.91 * trials); // binomial(400, 0.95): sd 4.4 (1.1 %)
  EXPECT_LE(adjusted, 0.99 * trials);
  EXPECT_GE(independent, 0.55 * trials);
  EXPECT_LE(independent, 0.78 * trials);
}

TEST(MicrostructurePosterior, TilesThatVaryLessThanTheModelSaysKeepTheIndependentPooling)
{
  const auto x = Draws(3, 0.0, 0.5, 100);
  const auto grid = Grid(-1.0, 1.0, 201);
  const auto ll = GaussianTiles(grid, x, 1.0);
  const auto s = MicrostructurePosterior::Pool(grid, ll);
  EXPECT_EQ(s.Adjustment, 1.0);
  const auto naive = MicrostructurePosterior::Single(grid, Summed(ll));
  EXPECT_EQ(s.LogLikelihood, Summed(ll)) << "Pool keeps the tiles' sum, before the adjustment";
  for (size_t v = 0; v < grid.size(); ++v)
    EXPECT_NEAR(s.Posterior[v], naive.Posterior[v], 1e-12);
}

TEST(MicrostructurePosterior, PeakAtTheEdgeOrOneTileIsNotAdjusted)
{
  const auto grid = Grid(0.0, 1.0, 11);
  // every tile says 3, far right of the grid: the peak is the last value
  const auto edge = MicrostructurePosterior::Pool(grid, GaussianTiles(grid, { 3.0, 2.0, 5.0 }, 1.0));
  EXPECT_TRUE(edge.PeakAtEdge);
  EXPECT_EQ(edge.Adjustment, 1.0);
  EXPECT_EQ(edge.MaximumAPosteriori, 1.0);
  const auto one = MicrostructurePosterior::Pool(grid, GaussianTiles(grid, { 0.5 }, 0.1));
  EXPECT_EQ(one.Adjustment, 1.0);
  EXPECT_NEAR(one.Mean, 0.5, 1e-6);
}

TEST(MicrostructurePosterior, SingleIsTheNormalisedLikelihood)
{
  const auto          grid = Grid(-1.0, 1.0, 5);
  std::vector<double> ll{ -3.0, -1.0, -2.0, -4.0, -5.0 };
  const auto          s = MicrostructurePosterior::Single(grid, ll);
  double              z = 0;
  for (double l : ll)
    z += std::exp(l);
  for (size_t v = 0; v < grid.size(); ++v)
    EXPECT_NEAR(s.Posterior[v], std::exp(ll[v]) / z, 1e-12);
  EXPECT_EQ(s.MaximumAPosteriori, -0.5);
}

TEST(MicrostructurePosterior, BadInputIsRefusedWithItsReason)
{
  const auto grid = Grid(0.0, 1.0, 5);
  auto       ll = GaussianTiles(grid, { 0.5, 0.4 }, 1.0);
  EXPECT_THROW(MicrostructurePosterior::Pool({ 0.0, 0.5 }, { ll[0], ll[1] }), itk::ExceptionObject);  // < 3 values
  EXPECT_THROW(MicrostructurePosterior::Pool({ 0.0, 0.1, 0.3, 0.4, 0.5 }, ll), itk::ExceptionObject); // uneven
  EXPECT_THROW(MicrostructurePosterior::Pool(Grid(0, 1, 6), ll), itk::ExceptionObject);               // rows != grid
  auto ragged = ll;
  ragged[2].pop_back();
  EXPECT_THROW(MicrostructurePosterior::Pool(grid, ragged), itk::ExceptionObject);
  auto bad = ll;
  bad[1][0] = std::numeric_limits<double>::quiet_NaN();
  try
  {
    MicrostructurePosterior::Pool(grid, bad);
    FAIL() << "a NaN log-likelihood was pooled";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("not finite"), std::string::npos) << e.GetDescription();
  }
  std::vector<std::vector<double>> none(grid.size());
  EXPECT_THROW(MicrostructurePosterior::Pool(grid, none), itk::ExceptionObject);
}

TEST(MicrostructurePosterior, ModelErrorAddsItsVarianceToTheInterval)
{
  // N(0.2, 0.1^2) convolved with N(0, 0.3^2) is N(0.2, 0.1): the interval 0.2 +- 1.96 sqrt(0.1).
  const auto          grid = Grid(-3.0, 3.4, 3201);
  std::vector<double> ll(grid.size());
  for (size_t v = 0; v < grid.size(); ++v)
    ll[v] = -0.5 * (grid[v] - 0.2) * (grid[v] - 0.2) / 0.01;
  const auto   narrow = MicrostructurePosterior::Single(grid, ll);
  const auto   wide = MicrostructurePosterior::WithModelError(grid, narrow, 0.3);
  const double half = 1.959964 * std::sqrt(0.01 + 0.09);
  EXPECT_NEAR(wide.Mean, 0.2, 1e-6);
  EXPECT_NEAR(wide.Lower95, 0.2 - half, 0.003);
  EXPECT_NEAR(wide.Upper95, 0.2 + half, 0.003);
  EXPECT_NEAR(narrow.Upper95, 0.2 + 1.959964 * 0.1, 0.003);
  const auto same = MicrostructurePosterior::WithModelError(grid, narrow, 0.0);
  EXPECT_EQ(same.Posterior, narrow.Posterior);
  EXPECT_THROW(MicrostructurePosterior::WithModelError(grid, narrow, -0.1), itk::ExceptionObject);
  EXPECT_THROW(MicrostructurePosterior::WithModelError(grid, narrow, std::nan("")), itk::ExceptionObject);
}
