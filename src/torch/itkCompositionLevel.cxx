/*=========================================================================
 * The composition level of the prior (itkCompositionLevel.h).
 *=========================================================================*/
#include "itkCompositionLevel.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>

namespace itk
{
namespace composition
{

namespace
{
using modelfile::Exact;

/** A problem of the arguments: the message alone (the model throws it again as its own). */
[[noreturn]] void
Refuse(const std::string & message)
{
  ExceptionObject e(__FILE__, __LINE__, message, ITK_LOCATION);
  throw e;
}

/** A problem of a file read. */
[[noreturn]] void
Fail(const std::string & message)
{
  ExceptionObject e(__FILE__, __LINE__, "PixelCNNPriorModel: " + message, ITK_LOCATION);
  throw e;
}

/** Sample variance (n - 1); 0 for fewer than two values. */
double
Variance(const std::vector<double> & values)
{
  if (values.size() < 2)
    return 0.0;
  double mean = 0.0;
  for (const double v : values)
    mean += v / static_cast<double>(values.size());
  double sum = 0.0;
  for (const double v : values)
    sum += (v - mean) * (v - mean);
  return sum / static_cast<double>(values.size() - 1);
}

/** t[0] + c . t[1..D] for one encoded condition c, in double; with row r, of the r-th line of
 * coefficients (t holds lines of 1 + D). */
double
LinearAt(const std::vector<float> & t, const std::vector<float> & c, size_t row = 0)
{
  const size_t first = row * (1 + c.size());
  double       y = t[first];
  for (size_t j = 0; j < c.size(); ++j)
    y += static_cast<double>(c[j]) * t[first + 1 + j];
  return y;
}

/** The L lines of coefficients t (L x (1 + D)) at each of n maps' condition features (n x D): n x L
 * values. */
std::vector<double>
Lines(const std::vector<float> & t, const std::vector<float> & features, unsigned int n, unsigned int D, unsigned int L)
{
  std::vector<double> out(static_cast<size_t>(n) * L);
  for (unsigned int i = 0; i < n; ++i)
  {
    const std::vector<float> c(features.begin() + static_cast<size_t>(i) * D,
                               features.begin() + static_cast<size_t>(i + 1) * D);
    for (unsigned int l = 0; l < L; ++l)
      out[static_cast<size_t>(i) * L + l] = LinearAt(t, c, l);
  }
  return out;
}
} // namespace

std::vector<double>
CholeskyLower(const std::vector<double> & a, unsigned int L)
{
  std::vector<double> l(static_cast<size_t>(L) * L, 0.0);
  for (unsigned int i = 0; i < L; ++i)
    for (unsigned int j = 0; j <= i; ++j)
    {
      double sum = a[i * L + j];
      for (unsigned int k = 0; k < j; ++k)
        sum -= l[i * L + k] * l[j * L + k];
      if (i == j)
      {
        if (!(sum > 0.0))
          return {};
        l[i * L + i] = std::sqrt(sum);
      }
      else
        l[i * L + j] = sum / l[j * L + j];
    }
  return l;
}

double
StandardNormal(std::mt19937_64 & engine)
{
  const double u1 = (static_cast<double>(engine() >> 11) + 1.0) * (1.0 / 9007199254740992.0); // (0, 1]
  const double u2 = static_cast<double>(engine() >> 11) * (1.0 / 9007199254740992.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

void
Level::Clear()
{
  *this = Level();
}

void
Level::CheckArguments(const std::vector<float> & codeValues, unsigned int count, unsigned int K,
                      const int32_t * indices, unsigned int n, unsigned int h, unsigned int w, double ridge)
{
  const unsigned int L = count;
  if (L == 0)
  {
    if (!codeValues.empty())
      Refuse("a composition level of 0 values takes no code values");
    return;
  }
  if (L > MaximumCount || codeValues.size() != static_cast<size_t>(K) * L)
  {
    std::ostringstream message;
    message << "the composition level needs " << L << " value(s) per code (1.." << MaximumCount << ") for " << K
            << " codes, " << static_cast<size_t>(K) * L << " in all, not " << codeValues.size();
    Refuse(message.str());
  }
  if (!std::all_of(codeValues.begin(), codeValues.end(), [](float v) { return std::isfinite(v); }))
    Refuse("a code value of the composition level is not a finite number");
  if (!(ridge >= 0.0) || !std::isfinite(ridge))
  {
    std::ostringstream message;
    message << "the composition level's ridge must be a finite number >= 0, it is " << ridge;
    Refuse(message.str());
  }
  if (n == 0 || h == 0 || w == 0 || indices == nullptr)
    Refuse("the composition level is fitted to the training maps: give at least one map");
}

void
Level::Fit(const std::vector<float> & codeValues, unsigned int count, const int32_t * indices, unsigned int n,
           size_t per, const std::vector<float> & features, unsigned int D, double ridge)
{
  const unsigned int L = count;
  // u per map, and its standardisation over all maps.
  this->Clear();
  m_Count = L;
  m_CodeValues = codeValues;
  m_Mean.assign(L, 0.0);
  m_StdDev.assign(L, 1.0);
  auto u = this->Compositions(indices, n, per);
  for (unsigned int l = 0; l < L; ++l)
  {
    std::vector<double> column(n);
    for (unsigned int i = 0; i < n; ++i)
      column[i] = u[static_cast<size_t>(i) * L + l];
    m_Mean[l] = std::accumulate(column.begin(), column.end(), 0.0) / n;
    m_StdDev[l] = std::sqrt(Variance(column));
    if (!(m_StdDev[l] > 1e-12))
    {
      this->Clear();
      Refuse("the maps' composition value " + std::to_string(l) +
             " does not vary: the composition level has nothing to model there; leave it out");
    }
    for (unsigned int i = 0; i < n; ++i)
      u[static_cast<size_t>(i) * L + l] = (column[i] - m_Mean[l]) / m_StdDev[l];
  }
  // Per distinct condition: the maps' standardised compositions.
  std::map<std::vector<float>, std::vector<unsigned int>> groups;
  for (unsigned int i = 0; i < n; ++i)
    groups[std::vector<float>(features.begin() + static_cast<size_t>(i) * D,
                              features.begin() + static_cast<size_t>(i + 1) * D)]
      .push_back(i);
  const size_t        R = 1 + D;
  std::vector<double> M(R * R, 0.0), bMean(L * R, 0.0), bLogSd(L * R, 0.0), correlation(L * L, 0.0);
  for (const auto & g : groups)
  {
    const double        weight = static_cast<double>(g.second.size());
    std::vector<double> x(R, 1.0), mean(L), sd(L);
    for (unsigned int j = 0; j < D; ++j)
      x[1 + j] = g.first[j];
    for (unsigned int l = 0; l < L; ++l)
    {
      std::vector<double> v;
      for (const auto i : g.second)
        v.push_back(u[static_cast<size_t>(i) * L + l]);
      mean[l] = std::accumulate(v.begin(), v.end(), 0.0) / weight;
      sd[l] = std::sqrt(Variance(v));
      if (g.second.size() < 2 || !(sd[l] > 0.0))
      {
        this->Clear();
        Refuse("a condition has " + std::to_string(g.second.size()) + " training map(s) whose composition value " +
               std::to_string(l) +
               " does not vary: the composition level needs at least 2 maps of differing composition per condition");
      }
      for (size_t a = 0; a < R; ++a)
      {
        bMean[l * R + a] += weight * x[a] * mean[l];
        bLogSd[l * R + a] += weight * x[a] * std::log(sd[l]);
      }
    }
    for (size_t a = 0; a < R; ++a)
      for (size_t b = 0; b < R; ++b)
        M[a * R + b] += weight * x[a] * x[b];
    // The within-condition correlation, pooled over the conditions.
    for (const auto i : g.second)
      for (unsigned int a = 0; a < L; ++a)
        for (unsigned int b = 0; b < L; ++b)
          correlation[a * L + b] += (u[static_cast<size_t>(i) * L + a] - mean[a]) / sd[a] *
                                    (u[static_cast<size_t>(i) * L + b] - mean[b]) / sd[b];
  }
  for (size_t a = 1; a < R; ++a)
    M[a * R + a] += ridge * static_cast<double>(n);
  const auto normal = torch::from_blob(M.data(), { static_cast<int64_t>(R), static_cast<int64_t>(R) }, torch::kDouble);
  if (std::get<1>(torch::linalg_cholesky_ex(normal)).item<int64_t>() != 0)
  {
    this->Clear();
    Refuse("the " + std::to_string(groups.size()) + " distinct conditions of the maps do not determine the " +
           std::to_string(D) + " condition slopes of the composition level: give a ridge > 0");
  }
  auto solve = [&](std::vector<double> & b) {
    const auto t =
      torch::linalg_solve(
        normal, torch::from_blob(b.data(), { static_cast<int64_t>(L), static_cast<int64_t>(R) }, torch::kDouble).t())
        .t()
        .to(torch::kFloat)
        .contiguous();
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + L * R);
  };
  m_PriorMean = solve(bMean);
  m_PriorLogStdDev = solve(bLogSd);
  for (unsigned int a = 0; a < L; ++a) // unit diagonal
    for (unsigned int b = 0; b < L; ++b)
      if (a != b)
        correlation[a * L + b] /= std::sqrt(correlation[a * L + a] * correlation[b * L + b]);
  for (unsigned int a = 0; a < L; ++a)
    correlation[a * L + a] = 1.0;
  if (CholeskyLower(correlation, L).empty())
  {
    this->Clear();
    Refuse("the composition values are perfectly correlated within the conditions: give values that tell the maps "
           "apart, or fewer");
  }
  m_Correlation = correlation;
}

std::vector<double>
Level::Compositions(const int32_t * indices, unsigned int n, size_t per) const
{
  const unsigned int  L = m_Count;
  std::vector<double> u(static_cast<size_t>(n) * L, 0.0);
  for (unsigned int i = 0; i < n; ++i)
  {
    double * ui = u.data() + static_cast<size_t>(i) * L;
    for (size_t p = 0; p < per; ++p)
    {
      const float * v = m_CodeValues.data() + static_cast<size_t>(indices[i * per + p]) * L;
      for (unsigned int l = 0; l < L; ++l)
        ui[l] += v[l];
    }
    for (unsigned int l = 0; l < L; ++l)
      ui[l] = (ui[l] / static_cast<double>(per) - m_Mean[l]) / m_StdDev[l];
  }
  return u;
}

PixelCNNPriorModel::CompositionDistribution
Level::Prior(const std::vector<float> & feature, unsigned int D) const
{
  PixelCNNPriorModel::CompositionDistribution d;
  d.Mean = Lines(m_PriorMean, feature, 1, D, m_Count);
  d.StdDev = Lines(m_PriorLogStdDev, feature, 1, D, m_Count);
  for (auto & s : d.StdDev)
    s = std::exp(s);
  d.Correlation = m_Correlation;
  return d;
}

void
Level::AddLogDensity(const std::vector<double> & u, const std::vector<float> & features, unsigned int n, unsigned int D,
                     std::vector<double> & logLikelihood) const
{
  // The log density of each map's u under N(m(c), S(c) R S(c)), S(c) = diag(s(c)).
  const unsigned int L = m_Count;
  const auto         means = Lines(m_PriorMean, features, n, D, L);
  const auto         logSds = Lines(m_PriorLogStdDev, features, n, D, L);
  const auto         chol = CholeskyLower(m_Correlation, L);
  double             logDet = 0.0;
  for (unsigned int l = 0; l < L; ++l)
    logDet += std::log(chol[l * L + l]);
  std::vector<double> r(L), y(L);
  for (unsigned int i = 0; i < n; ++i)
  {
    double logS = 0.0;
    for (unsigned int l = 0; l < L; ++l)
    {
      const size_t il = static_cast<size_t>(i) * L + l;
      r[l] = (u[il] - means[il]) * std::exp(-logSds[il]);
      logS += logSds[il];
    }
    double quadratic = 0.0;
    for (unsigned int l = 0; l < L; ++l) // y = chol^-1 r
    {
      double sum = r[l];
      for (unsigned int k = 0; k < l; ++k)
        sum -= chol[l * L + k] * y[k];
      y[l] = sum / chol[l * L + l];
      quadratic += y[l] * y[l];
    }
    logLikelihood[i] += -0.5 * quadratic - logS - logDet - 0.5 * L * std::log(2.0 * 3.141592653589793);
  }
}

std::vector<double>
Level::Draw(const std::vector<float> & features, unsigned int n, unsigned int D, unsigned int candidates,
            uint64_t seed) const
{
  const unsigned int  L = m_Count, C = candidates;
  const auto          logSds = Lines(m_PriorLogStdDev, features, n, D, L);
  const auto          chol = CholeskyLower(m_Correlation, L);
  std::mt19937_64     engine(seed ^ 0xbb67ae8584caa73bULL); // not the stream of the sampler's uniforms
  std::vector<double> z(L);
  const auto          means = Lines(m_PriorMean, features, n, D, L);
  std::vector<double> composition(static_cast<size_t>(n) * C * L);
  for (unsigned int i = 0; i < n; ++i)
  {
    for (auto & v : z)
      v = StandardNormal(engine);
    for (unsigned int l = 0; l < L; ++l) // u = m + s (chol z)
    {
      double e = 0.0;
      for (unsigned int k = 0; k <= l; ++k)
        e += chol[l * L + k] * z[k];
      const size_t il = static_cast<size_t>(i) * L + l;
      for (unsigned int j = 0; j < C; ++j)
        composition[(static_cast<size_t>(i) * C + j) * L + l] = means[il] + std::exp(logSds[il]) * e;
    }
  }
  return composition;
}

std::vector<size_t>
Level::Nearest(const std::vector<double> & own, const std::vector<double> & drawn, unsigned int n,
               unsigned int candidates) const
{
  const unsigned int  L = m_Count, C = candidates;
  std::vector<size_t> rows(n);
  for (unsigned int i = 0; i < n; ++i)
  {
    size_t best = static_cast<size_t>(i) * C;
    double bestDistance = std::numeric_limits<double>::infinity();
    for (unsigned int j = 0; j < C; ++j)
    {
      const size_t r = static_cast<size_t>(i) * C + j;
      double       d = 0.0;
      for (unsigned int l = 0; l < L; ++l)
        d += (own[r * L + l] - drawn[r * L + l]) * (own[r * L + l] - drawn[r * L + l]);
      if (d < bestDistance)
        best = r, bestDistance = d;
    }
    rows[i] = best;
  }
  return rows;
}

void
Level::AppendHeader(std::vector<std::pair<std::string, std::string>> & header) const
{
  if (m_Count == 0)
    return;
  std::string standardisation, correlation;
  for (const auto & v : { m_Mean, m_StdDev })
    for (const double x : v)
      standardisation += (standardisation.empty() ? "" : ",") + Exact(x);
  for (const double x : m_Correlation)
    correlation += (correlation.empty() ? "" : ",") + Exact(x);
  header.push_back({ "composition_count", std::to_string(m_Count) });
  header.push_back({ "composition_code_values", modelfile::JoinFloats(m_CodeValues) });
  header.push_back({ "composition_standardisation", standardisation });
  header.push_back({ "composition_prior_mean", modelfile::JoinFloats(m_PriorMean) });
  header.push_back({ "composition_prior_log_sd", modelfile::JoinFloats(m_PriorLogStdDev) });
  header.push_back({ "composition_correlation", correlation });
  header.push_back({ "composition_budget", "1" }); // the network reads the budget (FromHeader)
}

Level
Level::FromHeader(const modelfile::Contents & c, unsigned int K, size_t D)
{
  const std::string & path = c.Path;
  auto                readValues = [&](const std::string & key, size_t expected, const std::string & shape) {
    std::vector<float> values;
    if (!c.Has(key))
      return values;
    double value = 0.0;
    for (const auto & f : modelfile::SplitFields(c.Get(key)))
    {
      if (!modelfile::ParseDouble(f, value) || !std::isfinite(value))
        Fail(path + ": header line " + key + " holds \"" + f.substr(0, 20) +
             "\", not a finite number: the file is damaged");
      values.push_back(static_cast<float>(value));
    }
    if (values.size() != expected)
      Fail(path + ": header line " + key + " has " + std::to_string(values.size()) + " values, not " +
           std::to_string(expected) + " (" + shape + "): the file is damaged");
    return values;
  };
  auto doubles = [&](const std::string & key, size_t expected) {
    std::vector<double> values;
    if (c.Has(key))
      for (const auto & f : modelfile::SplitFields(c.Get(key)))
      {
        double v = 0.0;
        if (modelfile::ParseDouble(f, v) && std::isfinite(v))
          values.push_back(v);
      }
    return values.size() == expected ? values : std::vector<double>();
  };
  // Absent = none (the paper's prior, and files written before the level existed).
  Level level;
  level.m_Count = c.Has("composition_count") ? c.Count("composition_count") : 0u;
  const size_t L = level.m_Count;
  if (L > MaximumCount)
    Fail(path + ": header line composition_count = " + std::to_string(L) + " is more than " +
         std::to_string(MaximumCount) + ": the file is damaged");
  // The budget: "1" with a level, absent without. A level without it (session 22's option off) had a
  // network trained without the budget's input: this version has no such network.
  if (c.Has("composition_budget") && (c.Get("composition_budget") != "1" || L == 0))
    Fail(path + ": header line composition_budget must be 1 and comes with a composition level: the file is damaged");
  if (L > 0 && !c.Has("composition_budget"))
    Fail(path + ": this prior's composition level has no composition budget (written before session 23, when the "
                "budget was an option): the level always carries it now, and this network was trained without "
                "it; retrain the prior (MicrostructureTrainPrior)");
  if (L == 0)
    return level;
  level.m_CodeValues = readValues("composition_code_values", K * L, "codebook size x composition count");
  const auto standardisation = doubles("composition_standardisation", 2 * L); // means, then sds
  level.m_Correlation = doubles("composition_correlation", L * L);
  level.m_PriorMean =
    readValues("composition_prior_mean", L * (1 + D), "composition count x (1 + encoded condition length)");
  level.m_PriorLogStdDev =
    readValues("composition_prior_log_sd", L * (1 + D), "composition count x (1 + encoded condition length)");
  bool positive = !standardisation.empty();
  for (size_t l = 0; positive && l < L; ++l)
    positive = standardisation[L + l] > 0.0;
  if (level.m_CodeValues.empty() || !positive || level.m_PriorMean.empty() || level.m_PriorLogStdDev.empty() ||
      CholeskyLower(level.m_Correlation, level.m_Count).empty())
    Fail(path + ": the header's composition level (composition_code_values, composition_standardisation with sds "
                "> 0, composition_prior_mean, composition_prior_log_sd, a positive definite "
                "composition_correlation) is incomplete or damaged: the file is damaged");
  level.m_Mean.assign(standardisation.begin(), standardisation.begin() + L);
  level.m_StdDev.assign(standardisation.begin() + L, standardisation.end());
  return level;
}

} // namespace composition
} // namespace itk
