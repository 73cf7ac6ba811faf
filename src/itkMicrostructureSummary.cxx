/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureSummary.h"
#include "itkMicrostructureText.h"
#include "itkTDistribution.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

namespace itk
{
namespace
{
/** Student's t quantile t_{0.975, dof}. ITK's TDistribution (through SLATEC's gamma function)
 * overflows for large dof (NaN and console noise beyond ~340); there the Cornish-Fisher
 * expansion around the normal quantile (Abramowitz & Stegun 26.7.5) is accurate to < 1e-7. */
double
StudentT975(SizeValueType dof)
{
  if (dof <= 150)
  {
    return Statistics::TDistribution::InverseCDF(0.975, dof);
  }
  const double z = 1.959963984540054;
  const double n = static_cast<double>(dof);
  const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
  return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
         (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
}
} // namespace

MetricSummary
MicrostructureSummary::SummarizeValues(const std::string & metric, const std::vector<double> & values)
{
  MetricSummary s;
  s.metric = metric;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double       sum = 0.0;
  s.minimum = std::numeric_limits<double>::infinity();
  s.maximum = -std::numeric_limits<double>::infinity();
  for (double v : values)
  {
    if (!std::isfinite(v))
    {
      ++s.excluded;
      continue;
    }
    ++s.n;
    sum += v;
    s.minimum = std::min(s.minimum, v);
    s.maximum = std::max(s.maximum, v);
  }
  if (s.n == 0)
  {
    s.mean = s.variance = s.standardDeviation = s.ci95Low = s.ci95High = s.minimum = s.maximum = nan;
    return s;
  }
  s.mean = sum / static_cast<double>(s.n);
  double ss = 0.0;
  for (double v : values)
  {
    if (std::isfinite(v))
    {
      ss += (v - s.mean) * (v - s.mean);
    }
  }
  if (s.n < 2)
  {
    s.variance = s.standardDeviation = s.ci95Low = s.ci95High = nan;
    return s;
  }
  s.variance = ss / static_cast<double>(s.n - 1);
  s.standardDeviation = std::sqrt(s.variance);
  const double t = StudentT975(static_cast<SizeValueType>(s.n - 1));
  const double half = t * s.standardDeviation / std::sqrt(static_cast<double>(s.n));
  s.ci95Low = s.mean - half;
  s.ci95High = s.mean + half;
  return s;
}

std::vector<GroupSummary>
MicrostructureSummary::Summarize(const MicrostructureTable & table, const std::vector<std::string> & metricColumns,
                                 const std::string & groupColumn)
{
  std::vector<std::string> keys(table.GetNumberOfRows(), "all");
  if (!groupColumn.empty())
  {
    keys = table.GetColumn(groupColumn);
  }
  std::vector<std::string> order = keys;
  std::sort(order.begin(), order.end());
  order.erase(std::unique(order.begin(), order.end()), order.end());
  bool numeric = true;
  auto toNumber = [](const std::string & s, double & v) {
    std::istringstream is(s);
    is >> v;
    return !is.fail() && is.eof();
  };
  double v = 0;
  for (const auto & k : order)
  {
    numeric = numeric && toNumber(k, v);
  }
  if (numeric)
  {
    std::sort(order.begin(), order.end(), [&](const std::string & a, const std::string & b) {
      double x = 0, y = 0;
      toNumber(a, x);
      toNumber(b, y);
      return x < y;
    });
  }
  std::vector<std::vector<double>> columns;
  for (const auto & m : metricColumns)
  {
    columns.push_back(table.GetNumericColumn(m));
  }
  std::vector<GroupSummary> out;
  for (const auto & k : order)
  {
    GroupSummary g;
    g.group = k;
    for (std::size_t c = 0; c < metricColumns.size(); ++c)
    {
      std::vector<double> values;
      for (std::size_t r = 0; r < keys.size(); ++r)
      {
        if (keys[r] == k)
        {
          values.push_back(columns[c][r]);
        }
      }
      g.count = values.size();
      g.metrics.push_back(SummarizeValues(metricColumns[c], values));
    }
    if (metricColumns.empty())
    {
      g.count = static_cast<std::size_t>(std::count(keys.begin(), keys.end(), k));
    }
    out.push_back(std::move(g));
  }
  return out;
}

namespace
{
std::string
JsonNumber(double v)
{
  // JSON has no NaN/Infinity: write null.
  return std::isfinite(v) ? MicrostructureTable::FormatNumber(v) : "null";
}
} // namespace

std::string
MicrostructureSummary::ToJSON(const std::vector<GroupSummary> & groups, const std::string & groupColumn,
                              const std::map<std::string, std::string> & metadata)
{
  std::ostringstream j;
  j << "{\n  \"group_by\": " << (groupColumn.empty() ? "null" : ToJsonString(groupColumn)) << ",\n";
  for (const auto & kv : metadata)
  {
    j << "  " << ToJsonString(kv.first) << ": " << ToJsonString(kv.second) << ",\n";
  }
  j << "  \"groups\": [";
  for (std::size_t g = 0; g < groups.size(); ++g)
  {
    j << (g ? "," : "") << "\n    {\n      \"group\": " << ToJsonString(groups[g].group)
      << ",\n      \"count\": " << groups[g].count << ",\n      \"metrics\": {";
    for (std::size_t m = 0; m < groups[g].metrics.size(); ++m)
    {
      const auto & s = groups[g].metrics[m];
      j << (m ? "," : "") << "\n        " << ToJsonString(s.metric) << ": {\"n\": " << s.n
        << ", \"excluded\": " << s.excluded << ", \"mean\": " << JsonNumber(s.mean)
        << ", \"variance\": " << JsonNumber(s.variance) << ", \"sd\": " << JsonNumber(s.standardDeviation)
        << ", \"ci95_low\": " << JsonNumber(s.ci95Low) << ", \"ci95_high\": " << JsonNumber(s.ci95High)
        << ", \"min\": " << JsonNumber(s.minimum) << ", \"max\": " << JsonNumber(s.maximum) << "}";
    }
    j << "\n      }\n    }";
  }
  j << "\n  ]\n}\n";
  return j.str();
}
namespace
{
std::vector<double>
SortedFinite(std::vector<double> v, const char * what)
{
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty())
  {
    ExceptionObject e(__FILE__,
                      __LINE__,
                      std::string("MicrostructureSummary: the ") + what +
                        " sample has no values: compare two non-empty samples",
                      ITK_LOCATION);
    throw e;
  }
  std::sort(v.begin(), v.end());
  return v;
}
} // namespace

double
MicrostructureSummary::KolmogorovSmirnovStatistic(std::vector<double> a, std::vector<double> b)
{
  const std::vector<double> wa(a.size(), 1.0), wb(b.size(), 1.0);
  return WeightedKolmogorovSmirnovStatistic(a, wa, b, wb);
}

double
MicrostructureSummary::WeightedKolmogorovSmirnovStatistic(const std::vector<double> & a, const std::vector<double> & wa,
                                                          const std::vector<double> & b, const std::vector<double> & wb)
{
  if (wa.size() != a.size() || wb.size() != b.size())
  {
    ExceptionObject e(__FILE__,
                      __LINE__,
                      "MicrostructureSummary: a weighted KS statistic needs one weight per value (" +
                        std::to_string(a.size()) + " values, " + std::to_string(wa.size()) + " weights; " +
                        std::to_string(b.size()) + " values, " + std::to_string(wb.size()) + " weights)",
                      ITK_LOCATION);
    throw e;
  }
  // (value, weight) sorted by value; NaN values and weights <= 0 left out.
  const auto sorted = [](const std::vector<double> & v, const std::vector<double> & w, const char * what) {
    std::vector<std::pair<double, double>> s;
    s.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i)
      if (!std::isnan(v[i]) && w[i] > 0)
        s.emplace_back(v[i], w[i]);
    std::vector<double> values(s.size());
    for (size_t i = 0; i < s.size(); ++i)
      values[i] = s[i].first;
    SortedFinite(values, what); // throws for an empty sample
    std::sort(s.begin(), s.end());
    double total = 0.0;
    for (const auto & x : s)
      total += x.second;
    return std::pair{ s, total };
  };
  const auto [sa, ta] = sorted(a, wa, "first");
  const auto [sb, tb] = sorted(b, wb, "second");
  size_t i = 0, j = 0;
  double ca = 0.0, cb = 0.0, d = 0.0;
  while (i < sa.size() && j < sb.size())
  {
    const double x = std::min(sa[i].first, sb[j].first);
    for (; i < sa.size() && sa[i].first <= x; ++i)
      ca += sa[i].second;
    for (; j < sb.size() && sb[j].first <= x; ++j)
      cb += sb[j].second;
    d = std::max(d, std::abs(ca / ta - cb / tb));
  }
  return d;
}

double
MicrostructureSummary::KolmogorovSmirnovPValue(double d, std::size_t n, std::size_t m)
{
  if (n == 0 || m == 0)
    return std::numeric_limits<double>::quiet_NaN();
  const double en = std::sqrt(static_cast<double>(n) * m / static_cast<double>(n + m));
  const double lambda = (en + 0.12 + 0.11 / en) * d;
  if (lambda < 1e-3)
    return 1.0;
  double sum = 0.0, sign = 1.0;
  for (int k = 1; k <= 100; ++k)
  {
    const double term = sign * std::exp(-2.0 * k * k * lambda * lambda);
    sum += term;
    if (std::abs(term) < 1e-12)
      break;
    sign = -sign;
  }
  return std::clamp(2.0 * sum, 0.0, 1.0);
}

double
MicrostructureSummary::WassersteinDistance(std::vector<double> a, std::vector<double> b)
{
  a = SortedFinite(std::move(a), "first");
  b = SortedFinite(std::move(b), "second");
  // Integral over x of |F_a(x) - F_b(x)|, between consecutive values of the merged samples.
  std::vector<double> all(a);
  all.insert(all.end(), b.begin(), b.end());
  std::sort(all.begin(), all.end());
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  double       w = 0.0;
  size_t       i = 0, j = 0;
  for (size_t k = 0; k + 1 < all.size(); ++k)
  {
    const double x = all[k];
    while (i < a.size() && a[i] <= x)
      ++i;
    while (j < b.size() && b[j] <= x)
      ++j;
    w += std::abs(i / na - j / nb) * (all[k + 1] - x);
  }
  return w;
}

} // end namespace itk
