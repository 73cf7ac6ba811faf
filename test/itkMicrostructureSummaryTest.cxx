#include "itkMicrostructureSummary.h"
#include "itkMacro.h"

#include <gtest/gtest.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

TEST(MicrostructureSummary, MeanVarianceAndStudentInterval)
{
  // 1..10: mean 5.5, sample variance 55/6; t(0.975, 9) = 2.262157 (statistical tables).
  std::vector<double> v;
  for (int i = 1; i <= 10; ++i)
  {
    v.push_back(i);
  }
  const auto s = itk::MicrostructureSummary::SummarizeValues("x", v);
  EXPECT_EQ(s.n, 10u);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_NEAR(s.variance, 55.0 / 6.0, 1e-12);
  const double half = 2.262157 * std::sqrt(55.0 / 6.0) / std::sqrt(10.0);
  EXPECT_NEAR(s.ci95Low, 5.5 - half, 1e-5);
  EXPECT_NEAR(s.ci95High, 5.5 + half, 1e-5);
  EXPECT_EQ(s.minimum, 1.0);
  EXPECT_EQ(s.maximum, 10.0);
}

TEST(MicrostructureSummary, NonFiniteValuesAreExcludedAndCounted)
{
  const double inf = std::numeric_limits<double>::infinity();
  const auto   s = itk::MicrostructureSummary::SummarizeValues("d", { 2.0, inf, 4.0, std::nan("") });
  EXPECT_EQ(s.n, 2u);
  EXPECT_EQ(s.excluded, 2u);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.variance, 2.0);
  const auto one = itk::MicrostructureSummary::SummarizeValues("d", { 2.0 });
  EXPECT_TRUE(std::isnan(one.variance));
}

TEST(MicrostructureSummary, GroupsAreNumericallyOrderedAndSeparated)
{
  itk::MicrostructureTable t({ "rate", "vf" });
  t.AddRow({ "10", "0.5" });
  t.AddRow({ "3", "0.7" });
  t.AddRow({ "10", "0.7" });
  t.AddRow({ "3", "0.9" });
  const auto g = itk::MicrostructureSummary::Summarize(t, { "vf" }, "rate");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].group, "3"); // numeric order: 3 before 10
  EXPECT_EQ(g[1].group, "10");
  EXPECT_NEAR(g[0].metrics[0].mean, 0.8, 1e-12);
  EXPECT_NEAR(g[1].metrics[0].mean, 0.6, 1e-12);
  const std::string json = itk::MicrostructureSummary::ToJSON(g, "rate", { { "source", "unit test" } });
  EXPECT_NE(json.find("\"group_by\": \"rate\""), std::string::npos);
  EXPECT_NE(json.find("\"source\": \"unit test\""), std::string::npos);
  EXPECT_NE(json.find("\"mean\": 0.8"), std::string::npos) << json;
  itk::MicrostructureTable bad({ "rate", "vf" });
  bad.AddRow({ "1", "abc" });
  EXPECT_THROW(itk::MicrostructureSummary::Summarize(bad, { "vf" }, "rate"), itk::ExceptionObject);
}

TEST(MicrostructureSummary, LargeSamplesUseTheRightStudentQuantile)
{
  // t(0.975, dof) from tables: 1.972462 (191), 1.962339 (1000), 1.960201 (10000).
  for (const auto & c : { std::pair<int, double>{ 192, 1.972462 }, { 1001, 1.962339 }, { 10001, 1.960201 } })
  {
    std::vector<double> v(c.first);
    for (int i = 0; i < c.first; ++i)
    {
      v[i] = (i % 2) ? 1.0 : -1.0;
    }
    const auto   s = itk::MicrostructureSummary::SummarizeValues("x", v);
    const double half = c.second * s.standardDeviation / std::sqrt(double(c.first));
    EXPECT_NEAR(s.ci95High - s.mean, half, 1e-6 * half) << c.first;
  }
}

// KS statistic and Wasserstein distance: analytic cases, then scipy.stats as the
// reference (Debian's python3-scipy, a dependency of python3-skimage).
TEST(MicrostructureSummary, KolmogorovSmirnovAndWassersteinAnalytic)
{
  using S = itk::MicrostructureSummary;
  EXPECT_DOUBLE_EQ(S::KolmogorovSmirnovStatistic({ 1, 2, 3 }, { 1, 2, 3 }), 0.0);
  EXPECT_DOUBLE_EQ(S::KolmogorovSmirnovStatistic({ 1, 2 }, { 5, 6, 7 }), 1.0); // disjoint
  EXPECT_DOUBLE_EQ(S::WassersteinDistance({ 0, 0 }, { 3, 3, 3 }), 3.0);        // a shift of 3
  EXPECT_DOUBLE_EQ(S::WassersteinDistance({ 1, 2, 3 }, { 3, 4, 5 }), 2.0);
  EXPECT_NEAR(S::KolmogorovSmirnovPValue(0.0, 100, 100), 1.0, 1e-12);
  EXPECT_LT(S::KolmogorovSmirnovPValue(1.0, 100, 100), 1e-12);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_DOUBLE_EQ(S::WassersteinDistance({ 0, nan }, { 1 }), 1.0); // NaN ignored
  EXPECT_THROW(S::KolmogorovSmirnovStatistic({}, { 1 }), itk::ExceptionObject);
  EXPECT_THROW(S::WassersteinDistance({ nan }, { 1 }), itk::ExceptionObject);
}

TEST(MicrostructureSummary, KolmogorovSmirnovAndWassersteinMatchScipy)
{
  if (std::system("/usr/bin/python3 -c 'import scipy.stats' 2>/dev/null") != 0)
    GTEST_SKIP() << "no scipy";
  std::mt19937                     rng(3);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double>              a(300), b(217);
  for (auto & v : a)
    v = g(rng);
  for (auto & v : b)
    v = 0.3 + 1.4 * g(rng);
  for (size_t i = 0; i < 20; ++i) // ties
    b[i] = a[i];
  const std::string path = (std::filesystem::temp_directory_path() / "ks_samples.txt").string();
  {
    std::ofstream f(path);
    f.precision(17);
    for (double v : a)
      f << v << ' ';
    f << '\n';
    for (double v : b)
      f << v << ' ';
    f << '\n';
  }
  const std::string cmd = "/usr/bin/python3 -c \"import scipy.stats as s; l=open('" + path +
                          "').read().split(chr(10)); a=[float(x) for x in l[0].split()]; b=[float(x) for x in "
                          "l[1].split()]; r=s.ks_2samp(a,b); print(repr(r.statistic), repr(r.pvalue), "
                          "repr(s.wasserstein_distance(a,b)))\"";
  FILE * p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  double ks = 0, pvalue = 0, w = 0;
  ASSERT_EQ(std::fscanf(p, "%lf %lf %lf", &ks, &pvalue, &w), 3);
  pclose(p);
  using S = itk::MicrostructureSummary;
  const double d = S::KolmogorovSmirnovStatistic(a, b);
  EXPECT_NEAR(d, ks, 1e-12);
  EXPECT_NEAR(S::WassersteinDistance(a, b), w, 1e-9);
  // scipy's exact / asymptotic p-value and the Stephens approximation agree to a few per cent here.
  EXPECT_NEAR(S::KolmogorovSmirnovPValue(d, a.size(), b.size()), pvalue, 0.02 + 0.2 * pvalue);
}
