#include "itkCPUInstructionSet.h"
#include "itkPixelCNNPriorModel.h"
#include "itkVQVAEModel.h"
#include "itkOutputWindow.h"
#include "itkMultiThreaderBase.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <tuple>
#include <iomanip>
#include <unistd.h>

namespace
{
namespace fs = std::filesystem;
using Prior = itk::PixelCNNPriorModel;

// Tiny networks run fastest on one LibTorch thread (on a shared, loaded machine OpenMP's spinning
// threads slow small operations by 10-100x); the model reads ITK's global thread count at Initialize/Read.
const bool oneThread = (itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(1), true);

Prior::Hyperparameters
TinyHyperparameters(unsigned int K, unsigned int layers)
{
  Prior::Hyperparameters h;
  h.CodebookSize = K;
  h.EmbeddingDimension = 6;
  h.HiddenChannels = 8;
  h.NumberOfLayers = layers;
  h.FirstKernelSize = 7;
  h.KernelSize = 3;
  h.OutputHiddenChannels = 16;
  return h;
}

/** A continuous "log_rate" (trained on -2..2) and a categorical "method" {air, water}. */
Prior::ConditionSchema
TwoParameterSchema()
{
  return { Prior::LearnContinuousCondition("log_rate", { -2.0, -1.0, 0.5, 2.0 }),
           Prior::LearnCategoricalCondition("method", { "water", "air", "water" }) };
}

Prior::Pointer
TinyPrior(unsigned int K, unsigned int layers, uint64_t seed, const Prior::ConditionSchema & schema = {})
{
  auto m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(K, layers));
  m->SetConditionSchema(schema);
  m->SetSeed(seed);
  m->SetDevice("cpu");
  m->Initialize();
  return m;
}

std::vector<int32_t>
RandomMaps(unsigned int n, unsigned int h, unsigned int w, unsigned int K, unsigned int seed)
{
  std::mt19937                       rng(seed);
  std::uniform_int_distribution<int> u(0, static_cast<int>(K) - 1);
  std::vector<int32_t>               out(static_cast<size_t>(n) * h * w);
  for (auto & v : out)
    v = u(rng);
  return out;
}

Prior::Condition
Cond(double logRate, const std::string & method = "")
{
  std::ostringstream s;
  s << std::setprecision(17) << logRate;
  Prior::Condition c{ { "log_rate", s.str() } };
  if (!method.empty())
    c["method"] = method;
  return c;
}

/** Records ITK warnings instead of printing them. */
class CapturingOutputWindow : public itk::OutputWindow
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(CapturingOutputWindow);
  using Self = CapturingOutputWindow;
  using Superclass = itk::OutputWindow;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(CapturingOutputWindow, OutputWindow);

  void
  DisplayText(const char * text) override
  {
    m_Text += text;
  }
  void
  DisplayWarningText(const char * text) override
  {
    m_Warnings += text;
  }
  std::string m_Text, m_Warnings;

protected:
  CapturingOutputWindow() = default;
};

template <typename F>
std::string
ExceptionText(F && f)
{
  try
  {
    f();
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return "(no exception)";
}

fs::path
TempDir(const std::string & name)
{
  auto d = fs::temp_directory_path() / ("itkPixelCNNPriorModelTest_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/** Appends count indices drawn independently from the code distribution p (inverse CDF). */
void
DrawCodes(const std::vector<double> & p, size_t count, std::mt19937 & rng, std::vector<int32_t> & out)
{
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  for (size_t i = 0; i < count; ++i)
  {
    double  u = u01(rng), cumulative = 0.0;
    int32_t k = 0;
    while (k + 1 < static_cast<int32_t>(p.size()) && (cumulative += p[k]) <= u)
      ++k;
    out.push_back(k);
  }
}

/** Total variation 0.5 sum_k |f(k) - p(k)| between the index frequencies of maps and p. */
double
FrequencyDistance(const std::vector<int32_t> & maps, const std::vector<double> & p)
{
  double tv = 0.0;
  for (size_t k = 0; k < p.size(); ++k)
    tv += 0.5 * std::abs(std::count(maps.begin(), maps.end(), static_cast<int32_t>(k)) / double(maps.size()) - p[k]);
  return tv;
}

} // namespace


// Causality, exactly for one layer: perturbing the index at (r, c) changes the logits at (r', c') iff
// (r' == r and c < c' <= c + 3) [horizontal stack, mask A] or (r < r' <= r + 4 and |c' - c| <= 3)
// [vertical stack 4 x 7 seen through the down-shift], i.e. never at itself or before it, and the
// positions up and to the right are seen (no blind spot).
/** The bytes of a file. */
std::string
FileBytes(const fs::path & path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/** The bytes of a model file without its header checksum line, as files written before the
 * checksum existed are (and still read): a header edited in such a file reaches the reader's check
 * of the edited value itself instead of the checksum's "damaged header". */
std::string
WithoutHeaderChecksum(std::string bytes)
{
  const auto at = bytes.find("\nheader_fnv1a64 = ");
  if (at != std::string::npos)
    bytes.erase(at + 1, bytes.find('\n', at + 1) - at);
  return bytes;
}

/** Copies a model file with the first character of a header key's value replaced by "x" (and no
 * header checksum, see WithoutHeaderChecksum); false when the key is not in the file. */
bool
DamageHeaderValue(const fs::path & from, const std::string & key, const fs::path & to)
{
  std::string bytes = WithoutHeaderChecksum(FileBytes(from));
  const auto  at = bytes.find(key + " = ");
  if (at == std::string::npos)
    return false;
  bytes.replace(at + key.size() + 3, 1, "x");
  std::ofstream(to.string(), std::ios::binary) << bytes;
  return true;
}

TEST(PixelCNNPriorModel, FirstLayerMaskAReceptiveFieldIsExact)
{
  const unsigned int K = 5, H = 9, W = 10;
  auto               m = TinyPrior(K, 1, 3);
  auto               maps = RandomMaps(1, H, W, K, 11);
  const auto         base = m->Logits(maps.data(), 1, H, W, { {} });
  for (const auto & rc : std::vector<std::pair<int, int>>{ { 0, 0 }, { 2, 4 }, { 4, 9 }, { 8, 0 }, { 3, 1 } })
  {
    auto changed = maps;
    changed[rc.first * W + rc.second] = (changed[rc.first * W + rc.second] + 2) % K;
    const auto after = m->Logits(changed.data(), 1, H, W, { {} });
    for (int r = 0; r < static_cast<int>(H); ++r)
      for (int c = 0; c < static_cast<int>(W); ++c)
      {
        double diff = 0.0;
        for (unsigned int k = 0; k < K; ++k)
        {
          const size_t i = (static_cast<size_t>(k) * H + r) * W + c;
          diff = std::max(diff, std::abs(static_cast<double>(after[i]) - base[i]));
        }
        const bool sees = (r == rc.first && c > rc.second && c <= rc.second + 3) ||
                          (r > rc.first && r <= rc.first + 4 && std::abs(c - rc.second) <= 3);
        if (sees)
          EXPECT_GT(diff, 1e-4) << "(" << r << "," << c << ") should see (" << rc.first << "," << rc.second << ")";
        else
          EXPECT_LT(diff, 1e-6) << "(" << r << "," << c << ") must not see (" << rc.first << "," << rc.second << ")";
      }
  }
}

// Deep network (mask B layers with residuals): nothing at or before the perturbed position changes;
// the next position, and the row below on both sides, do.
TEST(PixelCNNPriorModel, DeepLayersAreCausalWithoutBlindSpot)
{
  const unsigned int                  K = 6, H = 8, W = 9;
  auto                                m = TinyPrior(K, 6, 5, TwoParameterSchema());
  auto                                maps = RandomMaps(1, H, W, K, 12);
  const std::vector<Prior::Condition> cond{ Cond(0.3, "air") };
  const auto                          base = m->Logits(maps.data(), 1, H, W, cond);
  auto                                diffAt = [&](const std::vector<float> & after, int r, int c) {
    double diff = 0.0;
    for (unsigned int k = 0; k < K; ++k)
    {
      const size_t i = (static_cast<size_t>(k) * H + r) * W + c;
      diff = std::max(diff, std::abs(static_cast<double>(after[i]) - base[i]));
    }
    return diff;
  };
  for (int p = 0; p < static_cast<int>(H * W); p += 5)
  {
    const int r0 = p / W, c0 = p % W;
    auto      changed = maps;
    changed[p] = (changed[p] + 1) % K;
    const auto after = m->Logits(changed.data(), 1, H, W, cond);
    for (int q = 0; q <= p; ++q)
      EXPECT_LT(diffAt(after, q / W, q % W), 1e-6) << "position " << q << " sees the later position " << p;
    if (c0 + 1 < static_cast<int>(W))
      EXPECT_GT(diffAt(after, r0, c0 + 1), 1e-4);
    if (r0 + 1 < static_cast<int>(H))
    {
      EXPECT_GT(diffAt(after, r0 + 1, c0), 1e-4);
      if (c0 > 0)
        EXPECT_GT(diffAt(after, r0 + 1, c0 - 1), 1e-4)
          << "blind spot: below-left does not see (" << r0 << "," << c0 << ")";
      if (c0 + 1 < static_cast<int>(W))
        EXPECT_GT(diffAt(after, r0 + 1, c0 + 1), 1e-4);
    }
  }
}
// The receptive field as computed by hand: with 3 layers (first kernel 7, then kernel 3), the logits
// at (r, c) see, through the vertical stacks shifted down one row, the rows up to r-6 (3 + 1 + 1 rows
// of the kernels, 1 of the shift) and no further.
TEST(PixelCNNPriorModel, ReceptiveFieldIsTheKernels)
{
  const unsigned int K = 5, H = 24, W = 24;
  auto               plain = TinyPrior(K, 3, 4);
  auto               maps = RandomMaps(1, H, W, K, 13);
  auto               changed = maps;
  changed[0 * W + 12] = (changed[0 * W + 12] + 1) % K; // position (0, 12)
  auto diff = [&](Prior * m, int r, int c) {
    const auto a = m->Logits(maps.data(), 1, H, W, { {} });
    const auto b = m->Logits(changed.data(), 1, H, W, { {} });
    double     d = 0.0;
    for (unsigned int k = 0; k < K; ++k)
    {
      const size_t i = (static_cast<size_t>(k) * H + r) * W + c;
      d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    }
    return d;
  };
  EXPECT_GT(diff(plain, 1, 12), 1e-5);
  EXPECT_GT(diff(plain, 6, 12), 1e-5);
  EXPECT_LT(diff(plain, 7, 12), 1e-7);
  EXPECT_LT(diff(plain, 20, 12), 1e-7);
}

// The likelihood is a normalised distribution over all K^(h w) maps (only if it is autoregressive), and
// equals the sum of log-softmax of the logits of one forward pass.
TEST(PixelCNNPriorModel, LogLikelihoodIsNormalisedAndMatchesLogits)
{
  const unsigned int   K = 3, H = 2, W = 3;
  auto                 m = TinyPrior(K, 3, 7, TwoParameterSchema());
  const unsigned int   total = 729; // 3^6
  std::vector<int32_t> maps(total * H * W);
  for (unsigned int i = 0; i < total; ++i)
  {
    unsigned int v = i;
    for (unsigned int p = 0; p < H * W; ++p, v /= K)
      maps[i * H * W + p] = static_cast<int32_t>(v % K);
  }
  const std::vector<Prior::Condition> cond{ Cond(-0.7, "water") };
  m->SetInferenceBatchSize(100);
  const auto logL = m->LogLikelihood(maps.data(), total, H, W, cond);
  double     sum = 0.0;
  for (const double l : logL)
  {
    EXPECT_LT(l, 0.0);
    sum += std::exp(l);
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);

  const auto logits = m->Logits(maps.data(), total, H, W, cond);
  for (unsigned int i = 0; i < total; i += 37)
  {
    double expected = 0.0;
    for (unsigned int p = 0; p < H * W; ++p)
    {
      double mx = -1e300, z = 0.0;
      for (unsigned int k = 0; k < K; ++k)
        mx = std::max(mx, static_cast<double>(logits[(i * K + k) * H * W + p]));
      for (unsigned int k = 0; k < K; ++k)
        z += std::exp(logits[(i * K + k) * H * W + p] - mx);
      expected += logits[(i * K + maps[i * H * W + p]) * H * W + p] - mx - std::log(z);
    }
    EXPECT_NEAR(logL[i], expected, 1e-9);
  }
}

// Incremental and naive samplers: the same indices for the same seed (several non-square maps, per-map
// conditions, batches of 4 and 1); another seed, other maps.
TEST(PixelCNNPriorModel, IncrementalSamplerEqualsNaive)
{
  const unsigned int            K = 9, H = 5, W = 7, n = 6;
  auto                          m = TinyPrior(K, 4, 9, TwoParameterSchema());
  std::vector<Prior::Condition> cond;
  for (unsigned int i = 0; i < n; ++i)
    cond.push_back(Cond(-2.0 + 0.8 * i, i % 2 ? "air" : "water"));
  m->SetInferenceBatchSize(4);
  m->SetSampler("naive");
  const auto naive = m->Sample(n, H, W, cond, 1.0, 42);
  m->SetSampler("incremental");
  const auto incremental = m->Sample(n, H, W, cond, 1.0, 42);
  EXPECT_EQ(incremental, naive);
  m->SetInferenceBatchSize(1);
  std::vector<double> progress;
  EXPECT_EQ(m->Sample(n, H, W, cond, 1.0, 42, [&](double f) { progress.push_back(f); }), naive);
  ASSERT_EQ(progress.size(), n * H); // once per row of every map
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_NEAR(progress.back(), 1.0, 1e-12);
  // Larger codebooks, other networks and seeds, 8 x 6 maps: still the same indices.
  for (unsigned int s = 1; s <= 3; ++s)
  {
    auto big = TinyPrior(64, 3, 100 + s, TwoParameterSchema());
    big->SetSampler("naive");
    const auto a = big->Sample(4, 8, 6, { cond[s] }, 1.0, s);
    big->SetSampler("incremental");
    EXPECT_EQ(big->Sample(4, 8, 6, { cond[s] }, 1.0, s), a) << "network " << s;
  }
  EXPECT_NE(m->Sample(n, H, W, cond, 1.0, 43), naive);
  std::set<int32_t> used(naive.begin(), naive.end());
  EXPECT_GE(used.size(), 5u);
  // A lower temperature, too.
  m->SetSampler("naive");
  const auto cold = m->Sample(2, H, W, { cond[1] }, 0.5, 7);
  m->SetSampler("incremental");
  EXPECT_EQ(m->Sample(2, H, W, { cond[1] }, 0.5, 7), cold);
}

// The sampler draws from the model's distribution: on 2 x 2 maps with K = 3 (81 maps), the frequencies
// of 4000 samples against exp(LogLikelihood) (chi-square, 80 degrees of freedom); any latent size works.
TEST(PixelCNNPriorModel, SamplesFollowTheLikelihood)
{
  const unsigned int                  K = 3, H = 2, W = 2, n = 4000;
  auto                                m = TinyPrior(K, 2, 13, TwoParameterSchema());
  const std::vector<Prior::Condition> cond{ Cond(1.0, "air") };
  const auto                          s = m->Sample(n, H, W, cond, 1.0, 2021);
  std::vector<double>                 observed(81, 0.0);
  for (unsigned int i = 0; i < n; ++i)
    observed[s[4 * i] + 3 * s[4 * i + 1] + 9 * s[4 * i + 2] + 27 * s[4 * i + 3]] += 1.0;
  std::vector<int32_t> all(81 * 4);
  for (unsigned int i = 0; i < 81; ++i)
    for (unsigned int p = 0, v = i; p < 4; ++p, v /= 3)
      all[4 * i + p] = static_cast<int32_t>(v % 3);
  const auto logL = m->LogLikelihood(all.data(), 81, H, W, cond);
  double     chi2 = 0.0;
  for (unsigned int i = 0; i < 81; ++i)
  {
    const double e = n * std::exp(logL[i]);
    chi2 += (observed[i] - e) * (observed[i] - e) / e;
  }
  EXPECT_LT(chi2, 150.0); // mean 80, sd 12.6
  EXPECT_GT(chi2, 30.0);

  const auto big = m->Sample(2, 32, 24, cond, 1.0, 5);
  ASSERT_EQ(big.size(), 2u * 32 * 24);
  for (const auto v : big)
    ASSERT_TRUE(v >= 0 && v < 3);
}

// A tiny prior learns how the statistics of the maps depend on a continuous condition: indices are
// independent with P(code 1) = sigmoid(c), c uniform in [-2, 2]. After training, the loss reaches the
// true conditional entropy, samples reproduce sigmoid(c), and the posterior over c of a map made with
// c = 1 peaks near 1.
TEST(PixelCNNPriorModel, LearnsConditionDependence)
{
  const unsigned int                     K = 2, H = 8, W = 8, batch = 32;
  std::mt19937                           rng(3);
  std::uniform_real_distribution<double> uc(-2.0, 2.0), u01(0.0, 1.0);
  auto                                   sigmoid = [](double c) { return 1.0 / (1.0 + std::exp(-c)); };
  auto                                   makeMap = [&](double c, unsigned int h, unsigned int w, int32_t * out) {
    for (unsigned int i = 0; i < h * w; ++i)
      out[i] = u01(rng) < sigmoid(c) ? 1 : 0;
  };
  std::vector<double> column(200);
  for (auto & c : column)
    c = uc(rng);
  auto m = Prior::New();
  auto hp = TinyHyperparameters(K, 2);
  hp.HiddenChannels = 16;
  m->SetHyperparameters(hp);
  m->SetConditionSchema({ Prior::LearnContinuousCondition("c", column) });
  EXPECT_NEAR(m->GetConditionSchema()[0].Minimum, *std::min_element(column.begin(), column.end()), 0);
  m->SetSeed(1);
  m->SetDevice("cpu");
  m->SetLearningRate(1e-2);
  m->Initialize();

  // True entropy per index, bits, averaged over c.
  double entropy = 0.0;
  for (int i = 0; i < 4000; ++i)
  {
    const double p = sigmoid(-2.0 + 4.0 * (i + 0.5) / 4000);
    entropy -= (p * std::log2(p) + (1 - p) * std::log2(1 - p)) / 4000;
  }
  std::vector<int32_t>          maps(batch * H * W);
  std::vector<Prior::Condition> cond(batch);
  double                        first = 0.0, last = 0.0;
  const unsigned int            steps = 300;
  for (unsigned int s = 0; s < steps; ++s)
  {
    for (unsigned int i = 0; i < batch; ++i)
    {
      const double c = column[(s * batch + i) % column.size()];
      makeMap(c, H, W, maps.data() + i * H * W);
      cond[i] = { { "c", Cond(c).at("log_rate") } };
    }
    const auto r = m->TrainStep(maps.data(), batch, H, W, cond);
    EXPECT_NEAR(r.BitsPerIndex, r.Loss / std::log(2.0), 1e-12);
    if (s < 10)
      first += r.BitsPerIndex / 10;
    if (s >= steps - 30)
      last += r.BitsPerIndex / 30;
  }
  EXPECT_EQ(m->GetNumberOfTrainingSteps(), steps);
  EXPECT_EQ(m->GetLatentHeight(), H);
  EXPECT_LT(last, first);
  EXPECT_LT(last, entropy + 0.05) << "true conditional entropy " << entropy << " bits";

  // (Over 6 training seeds the largest deviation was 0.035.)
  std::vector<double> fractions;
  for (const double c : { -1.5, 0.0, 1.5 })
  {
    const auto s = m->Sample(200, H, W, { { { "c", Cond(c).at("log_rate") } } }, 1.0, 99);
    fractions.push_back(std::count(s.begin(), s.end(), 1) / static_cast<double>(s.size()));
    EXPECT_NEAR(fractions.back(), sigmoid(c), 0.06) << "c = " << c;
  }
  EXPECT_GT(fractions[2] - fractions[0], 0.5); // 0.635 in truth

  std::vector<int32_t> map(16 * 16);
  makeMap(1.0, 16, 16, map.data());
  std::vector<double> grid;
  for (int i = 0; i <= 38; ++i)
    grid.push_back(-1.9 + 0.1 * i);
  const auto   posterior = m->ConditionPosterior(map.data(), 16, 16, {}, "c", grid);
  const double total = std::accumulate(posterior.begin(), posterior.end(), 0.0);
  EXPECT_NEAR(total, 1.0, 1e-12);
  const auto best = grid[std::max_element(posterior.begin(), posterior.end()) - posterior.begin()];
  EXPECT_NEAR(best, 1.0, 0.5);
  double mean = 0.0;
  for (size_t i = 0; i < grid.size(); ++i)
    mean += grid[i] * posterior[i];
  EXPECT_NEAR(mean, 1.0, 0.5);
}

// bfloat16 mixed-precision training (SetPrecision; "auto" is float32, as the VQ-VAE test checks;
// refused without AVX-512): from the same weights its first loss is within 2 % of
// float32's, and it learns the conditional distribution as well (maps of Bernoulli(sigmoid(c)) indices).
TEST(PixelCNNPriorModel, BFloat16MixedPrecisionLearnsLikeFloat32)
{
  if (!itk::CPUHasAVX512())
  {
    EXPECT_THROW(Prior::New()->SetPrecision("bfloat16"), itk::ExceptionObject);
    GTEST_SKIP() << "bfloat16 needs AVX-512 (this CPU runs " << itk::GetCPUInstructionSet()
                 << "): its refusal is checked, its training is not";
  }
  const unsigned int                     K = 2, H = 8, W = 8, batch = 32, steps = 150;
  std::vector<double>                    column(200);
  std::mt19937                           rng(5);
  std::uniform_real_distribution<double> uc(-2.0, 2.0), u01(0.0, 1.0);
  for (auto & c : column)
    c = uc(rng);
  auto make = [&](const std::string & precision) {
    auto m = Prior::New();
    auto hp = TinyHyperparameters(K, 2);
    hp.HiddenChannels = 16;
    m->SetHyperparameters(hp);
    m->SetConditionSchema({ Prior::LearnContinuousCondition("c", column) });
    m->SetSeed(1);
    m->SetDevice("cpu");
    m->SetPrecision(precision);
    m->SetLearningRate(1e-2);
    m->Initialize();
    return m;
  };
  auto m32 = make("float32");
  auto m16 = make("bfloat16");
  EXPECT_EQ(m32->GetPrecisionInUse(), "float32");
  EXPECT_EQ(m16->GetPrecisionInUse(), "bfloat16");
  EXPECT_THROW(m16->SetPrecision("half"), itk::ExceptionObject);
  EXPECT_EQ(std::string(m16->GetPrecision()), "bfloat16");
  std::vector<int32_t>          maps(batch * H * W);
  std::vector<Prior::Condition> cond(batch);
  double                        first32 = 0, first16 = 0, last32 = 0, last16 = 0;
  for (unsigned int s = 0; s < steps; ++s)
  {
    for (unsigned int i = 0; i < batch; ++i)
    {
      const double c = column[(s * batch + i) % column.size()];
      for (unsigned int k = 0; k < H * W; ++k)
        maps[i * H * W + k] = u01(rng) < 1.0 / (1.0 + std::exp(-c)) ? 1 : 0;
      cond[i] = { { "c", Cond(c).at("log_rate") } };
    }
    const double b32 = m32->TrainStep(maps.data(), batch, H, W, cond).BitsPerIndex;
    const double b16 = m16->TrainStep(maps.data(), batch, H, W, cond).BitsPerIndex;
    if (s == 0)
    {
      first32 = b32;
      first16 = b16;
    }
    if (s >= steps - 30)
    {
      last32 += b32 / 30;
      last16 += b16 / 30;
    }
  }
  EXPECT_NEAR(first16, first32, 0.02 * first32);
  EXPECT_LT(last16, first16);
  EXPECT_NEAR(last16, last32, 0.05) << "bits per index after " << steps << " steps";
}

TEST(PixelCNNPriorModel, SameSeedSameWeightsAndTraining)
{
  const unsigned int K = 4, H = 4, W = 5;
  auto               maps = RandomMaps(3, H, W, K, 1);
  auto               a = TinyPrior(K, 3, 17), b = TinyPrior(K, 3, 17), c = TinyPrior(K, 3, 18);
  EXPECT_EQ(a->LogLikelihood(maps.data(), 3, H, W, { {} }), b->LogLikelihood(maps.data(), 3, H, W, { {} }));
  EXPECT_NE(a->LogLikelihood(maps.data(), 3, H, W, { {} }), c->LogLikelihood(maps.data(), 3, H, W, {}));
  for (int s = 0; s < 3; ++s)
  {
    EXPECT_EQ(a->TrainStep(maps.data(), 3, H, W, { {} }).Loss, b->TrainStep(maps.data(), 3, H, W, { {} }).Loss);
  }
  EXPECT_EQ(a->LogLikelihood(maps.data(), 3, H, W, { {} }), b->LogLikelihood(maps.data(), 3, H, W, { {} }));
}

TEST(PixelCNNPriorModel, WriteReadRoundTrip)
{
  const auto         dir = TempDir("roundtrip");
  const unsigned int K = 6, H = 4, W = 6;
  auto               schema = TwoParameterSchema();
  schema.push_back(Prior::LearnCategoricalCondition("odd, name\\x", { "a,b", "c\nd" }));
  auto             m = TinyPrior(K, 3, 21, schema);
  auto             maps = RandomMaps(4, H, W, K, 2);
  Prior::Condition cond = Cond(0.25, "water");
  cond["odd, name\\x"] = "c\nd";
  m->TrainStep(maps.data(), 4, H, W, { cond });
  m->SetTrainingSummary("300 steps, lr 3e-4\nsecond line = x");
  const auto path = (dir / "prior.smprior").string();
  m->Write(path);

  auto r = Prior::New();
  r->SetDevice("cpu");
  r->Read(path);
  EXPECT_EQ(r->GetCodebookSize(), K);
  EXPECT_EQ(r->GetHyperparameters().NumberOfLayers, 3u);
  EXPECT_EQ(std::string(r->GetTrainingSummary()), std::string(m->GetTrainingSummary()));
  EXPECT_EQ(r->GetLatentHeight(), H);
  EXPECT_EQ(r->GetLatentWidth(), W);
  EXPECT_EQ(r->GetNumberOfTrainingSteps(), 1u);
  ASSERT_EQ(r->GetConditionSchema().size(), 3u);
  for (size_t i = 0; i < 3; ++i)
  {
    const auto &a = schema[i], &b = r->GetConditionSchema()[i];
    EXPECT_EQ(a.Name, b.Name);
    EXPECT_EQ(a.Categorical, b.Categorical);
    EXPECT_EQ(a.Categories, b.Categories);
    EXPECT_EQ(a.Mean, b.Mean);
    EXPECT_EQ(a.StdDev, b.StdDev);
    EXPECT_EQ(a.Minimum, b.Minimum);
    EXPECT_EQ(a.Maximum, b.Maximum);
  }
  EXPECT_EQ(r->LogLikelihood(maps.data(), 4, H, W, { cond }), m->LogLikelihood(maps.data(), 4, H, W, { cond }));
  EXPECT_EQ(r->Sample(3, H, W, { cond }, 1.0, 8), m->Sample(3, H, W, { cond }, 1.0, 8));
  fs::remove_all(dir);
}

TEST(PixelCNNPriorModel, DamagedForeignAndNewerFilesAreClearErrors)
{
  const auto dir = TempDir("damaged");
  auto       m = TinyPrior(4, 2, 1, TwoParameterSchema());
  const auto good = (dir / "good.smprior").string();
  m->Write(good);
  std::ifstream     in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto              write = [&](const std::string & name, const std::string & content) {
    const auto    p = (dir / name).string();
    std::ofstream o(p, std::ios::binary);
    o << content;
    return p;
  };
  auto readText = [&](const std::string & p) {
    auto r = Prior::New();
    r->SetDevice("cpu");
    return ExceptionText([&] { r->Read(p); });
  };
  EXPECT_NE(readText(write("truncated", bytes.substr(0, bytes.size() - 100))).find("truncated"), std::string::npos);
  std::string flipped = bytes;
  flipped[bytes.size() - 50] ^= 0x10;
  EXPECT_NE(readText(write("flipped", flipped)).find("checksum"), std::string::npos);
  EXPECT_NE(readText(write("text", "hello, world\n")).find("not a prior model file"), std::string::npos);
  EXPECT_NE(readText(write("newer", "ITKSMPRIOR 2" + bytes.substr(12))).find("format version 2"), std::string::npos);
  EXPECT_NE(readText(write("header", bytes.substr(0, 200))).find("end_header"), std::string::npos);
  EXPECT_NE(readText((dir / "missing").string()).find("cannot open"), std::string::npos);

  // A VQ-VAE model file is named as such.
  auto vq = itk::VQVAEModel::New();
  auto vh = vq->GetHyperparameters();
  vh.EncoderChannels = { 4 };
  vh.CodebookSize = 8;
  vh.CodeDimension = 4;
  vh.NumberOfResidualBlocks = 0;
  vq->SetHyperparameters(vh);
  vq->SetDevice("cpu");
  vq->Initialize();
  const auto vqPath = (dir / "vq.model").string();
  vq->Write(vqPath);
  EXPECT_NE(readText(vqPath).find("VQ-VAE"), std::string::npos);

  // A failed read leaves the model as it was; writing without a network writes nothing.
  auto r = TinyPrior(4, 2, 1, TwoParameterSchema());
  EXPECT_NE(readText(write("flipped2", flipped)), "(no exception)");
  auto       empty = Prior::New();
  const auto none = (dir / "none.smprior").string();
  EXPECT_NE(ExceptionText([&] { empty->Write(none); }).find("Initialize"), std::string::npos);
  EXPECT_FALSE(fs::exists(none));
  fs::remove_all(dir);
}

TEST(PixelCNNPriorModel, BadConditionsAreClearErrorsOutOfRangeWarns)
{
  auto m = TinyPrior(4, 2, 1, TwoParameterSchema());
  auto maps = RandomMaps(2, 3, 3, 4, 5);
  auto logL = [&](const std::vector<Prior::Condition> & c) {
    return ExceptionText([&] { m->LogLikelihood(maps.data(), 2, 3, 3, c); });
  };
  EXPECT_NE(logL({ { { "log_rate", "0.5" } } }).find("\"method\" is missing"), std::string::npos);
  auto unknown = Cond(0.5, "air");
  unknown["temperature"] = "800";
  EXPECT_NE(logL({ unknown }).find("unknown process parameter \"temperature\""), std::string::npos);
  EXPECT_NE(logL({ Cond(std::numeric_limits<double>::quiet_NaN(), "air") }).find("not a finite number"),
            std::string::npos);
  EXPECT_NE(logL({ { { "log_rate", "fast" }, { "method", "air" } } }).find("not a finite number"), std::string::npos);
  EXPECT_NE(logL({ Cond(0.5, "oil") }).find("unknown category \"oil\""), std::string::npos);
  EXPECT_NE(logL({ Cond(0.5, "air"), Cond(0.5, "air"), Cond(0.5, "air") }).find("one condition for all"),
            std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->Sample(1, 2, 2, { Cond(0.5, "oil") }, 1.0, 1); }).find("unknown category"),
            std::string::npos);
  auto bad = maps;
  bad[3] = 4;
  EXPECT_NE(ExceptionText([&] { m->LogLikelihood(bad.data(), 2, 3, 3, { Cond(0, "air") }); }).find("outside 0..3"),
            std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->Sample(1, 2, 2, { Cond(0, "air") }, 0.0, 1); }).find("temperature"),
            std::string::npos);

  // Outside the trained range -2..2: a warning naming the value, and a result.
  auto window = CapturingOutputWindow::New();
  auto previous = itk::OutputWindow::GetInstance();
  itk::OutputWindow::SetInstance(window);
  const bool display = itk::Object::GetGlobalWarningDisplay();
  itk::Object::GlobalWarningDisplayOn();
  std::vector<double> inRange, outside;
  EXPECT_NO_THROW(inRange = m->LogLikelihood(maps.data(), 2, 3, 3, { Cond(1.5, "air") }));
  EXPECT_EQ(window->m_Warnings, "");
  EXPECT_NO_THROW(outside = m->LogLikelihood(maps.data(), 2, 3, 3, { Cond(3.5, "air") }));
  EXPECT_NE(window->m_Warnings.find("log_rate = 3.5"), std::string::npos) << window->m_Warnings;
  EXPECT_EQ(outside.size(), 2u);
  EXPECT_NE(outside, inRange);
  itk::Object::SetGlobalWarningDisplay(display);
  itk::OutputWindow::SetInstance(previous);

  // Far outside the trained range (the biases would overflow into NaN logits): refused, naming it.
  for (const double far : { -1000.0, 1e10 })
  {
    const auto text = ExceptionText([&] { m->EncodeConditions({ Cond(far, "air") }, 1); });
    EXPECT_NE(text.find("too far outside"), std::string::npos) << far << ": " << text;
    EXPECT_NE(text.find("log_rate"), std::string::npos) << text;
  }

  // Schema and hyperparameter errors.
  EXPECT_NE(ExceptionText([&] {
              m->SetConditionSchema({ TwoParameterSchema()[0], TwoParameterSchema()[0] });
            }).find("appears twice"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] {
              Prior::LearnCondition("x", { "1", "two" }, false);
            }).find("\"two\", not a number"),
            std::string::npos);
  auto h = TinyHyperparameters(4, 2);
  h.KernelSize = 4;
  EXPECT_NE(ExceptionText([&] { h.Validate(); }).find("KernelSize must be odd"), std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->SetSampler("fast"); }).find("unknown sampler"), std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->SetDevice("gpu"); }).find("unknown device"), std::string::npos);
}

TEST(PixelCNNPriorModel, CodebookSizeMustMatchTheVQVAE)
{
  auto prior = TinyPrior(8, 1, 1);
  auto vq = itk::VQVAEModel::New();
  auto vh = vq->GetHyperparameters();
  vh.CodebookSize = 16;
  vq->SetHyperparameters(vh);
  const auto text = ExceptionText([&] { prior->CheckCompatibleCodebookSize(vq->GetHyperparameters().CodebookSize); });
  EXPECT_NE(text.find("8 codes"), std::string::npos) << text;
  EXPECT_NE(text.find("16 codes"), std::string::npos) << text;
  EXPECT_NO_THROW(prior->CheckCompatibleCodebookSize(8));
  EXPECT_NE(ExceptionText([] { Prior::New()->Sample(1, 2, 2, { {} }, 1.0, 1); }).find("Initialize"), std::string::npos);
}

// A continuous parameter is encoded as the paper does, z = (x - mean) / sd over the training column
// (population sd; a constant column is centred, not scaled), followed by a categorical parameter's
// one-hot vector; the file keeps the standardisation exactly.
TEST(PixelCNNPriorModel, ContinuousConditionIsStandardised)
{
  const auto spec = Prior::LearnContinuousCondition("x", { -1.0, 0.0, 2.0, 3.0 });
  EXPECT_DOUBLE_EQ(spec.Mean, 1.0);
  EXPECT_DOUBLE_EQ(spec.StdDev, std::sqrt((4.0 + 1.0 + 1.0 + 4.0) / 4.0));
  EXPECT_EQ(spec.Minimum, -1.0);
  EXPECT_EQ(spec.Maximum, 3.0);
  EXPECT_EQ(Prior::LearnContinuousCondition("x", { 2.0, 2.0 }).StdDev, 1.0);
  EXPECT_NE(ExceptionText([] {
              Prior::LearnCondition("x", { "1", "a" }, false);
            }).find("not a number"),
            std::string::npos);

  auto         m = TinyPrior(4, 1, 3, { spec, Prior::LearnCategoricalCondition("m", { "a", "b" }) });
  const auto   e = m->EncodeConditions({ { { "x", "2.5" }, { "m", "b" } } }, 1);
  const double z = (2.5 - 1.0) / std::sqrt(2.5);
  ASSERT_EQ(m->GetEncodedConditionLength(), 3u);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_NEAR(e[0], z, 1e-6);
  EXPECT_EQ(e[1], 0.0f);
  EXPECT_EQ(e[2], 1.0f);

  const auto dir = TempDir("standardised");
  m->Write((dir / "s.model").string());
  auto r = Prior::New();
  r->SetDevice("cpu");
  r->Read((dir / "s.model").string());
  ASSERT_EQ(r->GetConditionSchema().size(), 2u);
  EXPECT_EQ(r->GetConditionSchema()[0].Mean, spec.Mean);
  EXPECT_EQ(r->GetConditionSchema()[0].StdDev, spec.StdDev);
  EXPECT_EQ(r->EncodeConditions({ { { "x", "2.5" }, { "m", "b" } } }, 1), e);
  fs::remove_all(dir);
}

// The post-hoc calibrations (a sampling temperature per condition, per-code offsets, a per-map tilt,
// and exponential terms for the calibrations only) and the condition encodings beyond the paper's
// (powers, exponential terms) were removed: a prior file that carries one is
// refused with a message that names the file, the header line and says what to do; an empty line is
// no calibration.
TEST(PixelCNNPriorModel, FileWithARemovedCalibrationIsRefused)
{
  auto       m = TinyPrior(3, 2, 17, TwoParameterSchema());
  const auto dir = TempDir("removed-calibration");
  m->Write((dir / "plain.smprior").string());
  auto withHeaderLine = [&](const std::string & line, const std::string & name) {
    std::string bytes = WithoutHeaderChecksum(FileBytes(dir / "plain.smprior"));
    const auto  at = bytes.find("end_header\n");
    EXPECT_NE(at, std::string::npos);
    bytes.insert(at, line + "\n");
    std::ofstream((dir / name).string(), std::ios::binary) << bytes;
    return (dir / name).string();
  };
  auto r = Prior::New();
  r->SetDevice("cpu");
  for (const std::string key :
       { "temperature_calibration", "marginal_calibration", "variation_direction", "variation_calibration" })
  {
    const auto calibrated = withHeaderLine(key + " = 0.3,-0.2,0.1,0.05", key + ".smprior");
    const auto message = ExceptionText([&] { r->Read(calibrated); });
    EXPECT_NE(message.find(calibrated), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << message;
    EXPECT_NE(message.find("retrain"), std::string::npos) << message;
    EXPECT_FALSE(r->IsInitialized()) << "nothing read from the refused file";
  }
  // log_rate with a degree (powers of z) or exponential terms after its range, as files before
  // session 24 had them (the calibration-only term's ":calibration" suffix included).
  for (const std::string tail : { ",2", ",1,exp:-1:0.5:0.2", ",1,exp:-1:0.5:0.2:calibration" })
  {
    std::string bytes = WithoutHeaderChecksum(FileBytes(dir / "plain.smprior"));
    const auto  at = bytes.find("\ncondition_0 = log_rate,continuous,");
    ASSERT_NE(at, std::string::npos);
    bytes.insert(bytes.find('\n', at + 1), tail);
    const auto path = (dir / "term.smprior").string();
    std::ofstream(path, std::ios::binary) << bytes;
    const auto message = ExceptionText([&] { r->Read(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("condition_0"), std::string::npos) << message;
    EXPECT_NE(message.find("powers or exponential terms"), std::string::npos) << message;
    EXPECT_NE(message.find("retrain"), std::string::npos) << message;
    EXPECT_FALSE(r->IsInitialized());
  }
  // Dilated layers (removed in session 33): a file that lists any dilation other than 1 is refused; files
  // of earlier versions without dilations ("dilations = " or all 1) are read.
  for (const std::string dilations : { "2,3", "1,2,4,8" })
  {
    const auto dilated = withHeaderLine("dilations = " + dilations, "dilated.smprior");
    const auto message = ExceptionText([&] { r->Read(dilated); });
    EXPECT_NE(message.find(dilated), std::string::npos) << message;
    EXPECT_NE(message.find("dilated layers"), std::string::npos) << message;
    EXPECT_NE(message.find("retrain"), std::string::npos) << message;
    EXPECT_FALSE(r->IsInitialized());
  }
  r->Read(withHeaderLine("dilations = 1,1", "undilated.smprior"));
  r->Read(withHeaderLine("dilations = ", "nodilations.smprior"));
  r->Read(withHeaderLine("temperature_calibration = ", "empty.smprior"));
  const auto                          maps = RandomMaps(2, 2, 3, 3, 4);
  const std::vector<Prior::Condition> cond{ Cond(0.5, "air") };
  EXPECT_EQ(r->Logits(maps.data(), 2, 2, 3, cond), m->Logits(maps.data(), 2, 2, 3, cond));
  fs::remove_all(dir);
}

namespace
{
/** Maps of two codes whose share of code 1 varies from map to map: per map p ~ N(mean, sd^2)
 * (clamped to 0.02..0.98), every position code 1 with probability p, independently. */
std::vector<int32_t>
MapsOfVaryingComposition(unsigned int n, unsigned int H, unsigned int W, double mean, double sd, unsigned int seed)
{
  std::mt19937                           rng(seed);
  std::normal_distribution<double>       share(mean, sd);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<int32_t>                   maps;
  for (unsigned int i = 0; i < n; ++i)
  {
    const double p = std::clamp(share(rng), 0.02, 0.98);
    for (unsigned int k = 0; k < H * W; ++k)
      maps.push_back(u01(rng) < p ? 1 : 0);
  }
  return maps;
}

/** Per map, the share of code 1. */
std::vector<double>
ShareOfCodeOne(const std::vector<int32_t> & maps, unsigned int per)
{
  std::vector<double> s(maps.size() / per, 0.0);
  for (size_t i = 0; i < maps.size(); ++i)
    s[i / per] += maps[i] / static_cast<double>(per);
  return s;
}

double
MeanOf(const std::vector<double> & v, size_t first, size_t count)
{
  return std::accumulate(v.begin() + first, v.begin() + first + count, 0.0) / count;
}

double
VarianceOf(const std::vector<double> & v, size_t first, size_t count)
{
  const double m = MeanOf(v, first, count);
  double       s = 0.0;
  for (size_t i = first; i < first + count; ++i)
    s += (v[i] - m) * (v[i] - m);
  return s / (count - 1);
}
/** n maps at log_rate = -1 (shares of code 1 drawn from N(0.3, sdLow^2), seed seedLow) followed by n at
 * log_rate = 1 (N(0.6, sdHigh^2), seed seedHigh), with their conditions. */
struct TwoConditionMaps
{
  std::vector<int32_t>          maps;
  std::vector<Prior::Condition> conditions;
};
TwoConditionMaps
MapsAtTwoConditions(unsigned int n, unsigned int H, unsigned int W, double sdLow, double sdHigh, unsigned int seedLow,
                    unsigned int seedHigh)
{
  TwoConditionMaps r;
  r.maps = MapsOfVaryingComposition(n, H, W, 0.3, sdLow, seedLow);
  const auto upper = MapsOfVaryingComposition(n, H, W, 0.6, sdHigh, seedHigh);
  r.maps.insert(r.maps.end(), upper.begin(), upper.end());
  r.conditions.assign(n, Cond(-1.0));
  r.conditions.insert(r.conditions.end(), n, Cond(1.0));
  return r;
}

/** A tiny prior on log_rate (two layers; with the composition level, which carries the budget, when asked) trained
 * `steps` steps of `batchSize` maps drawn at random (std::mt19937(rngSeed)) from the 2 n maps of H x W and
 * their conditions. */
Prior::Pointer
TrainedTinyPrior(const std::vector<int32_t> & real, const std::vector<Prior::Condition> & conditions, unsigned int n,
                 unsigned int H, unsigned int W, bool level, uint64_t seed, unsigned int rngSeed, int steps,
                 unsigned int batchSize)
{
  const unsigned int per = H * W;
  auto               m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(2, 2));
  m->SetConditionSchema({ Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  if (level)
    m->SetCompositionLevel({ 0.0f, 1.0f }, 1, real.data(), 2 * n, H, W, conditions);
  m->SetSeed(seed);
  m->SetDevice("cpu");
  m->SetLearningRate(1e-2);
  m->Initialize();
  std::mt19937                  rng(rngSeed);
  std::vector<int32_t>          batch(batchSize * per);
  std::vector<Prior::Condition> batchConditions(batchSize);
  for (int step = 0; step < steps; ++step)
  {
    for (unsigned int b = 0; b < batchSize; ++b)
    {
      const unsigned int i = rng() % (2 * n);
      std::copy_n(real.begin() + i * per, per, batch.begin() + b * per);
      batchConditions[b] = conditions[i];
    }
    m->TrainStep(batch.data(), batchSize, H, W, batchConditions);
  }
  return m;
}
/** The share of code 1 in `samples` maps drawn at c = -1 and c = 1 (seeds seed and seed + 1) against the
 * real maps' (n per condition, condition -1 first): per condition, the sampled over the real variance,
 * and the absolute difference of the means. */
struct ShareFit
{
  double ratio[2], meanError[2];
};
ShareFit
SampledShareFit(const Prior * m, const std::vector<double> & realShare, unsigned int n, unsigned int samples,
                unsigned int H, unsigned int W, uint64_t seed)
{
  ShareFit fit;
  for (unsigned int g = 0; g < 2; ++g)
  {
    const auto sampled = ShareOfCodeOne(m->Sample(samples, H, W, { Cond(g == 0 ? -1.0 : 1.0) }, 1.0, seed + g), H * W);
    fit.ratio[g] = VarianceOf(sampled, 0, samples) / VarianceOf(realShare, g * n, n);
    fit.meanError[g] = std::abs(MeanOf(sampled, 0, samples) - MeanOf(realShare, g * n, n));
  }
  return fit;
}
} // namespace

// The composition level's top level against the maps' own statistics: with two conditions and no
// ridge, m(c) and log s(c) pass through each condition's mean and log sd of the standardised share
// exactly, and the unseen midpoint gets the midpoint of both. The likelihood is the network's plus
// log N(u; m, s); the file keeps the level (same samples after Read), and a damaged level is refused.
TEST(PixelCNNPriorModel, CompositionLevelFitsItsTopLevelAndRoundTrips)
{
  const unsigned int K = 2, H = 6, W = 6, n = 300, per = H * W;
  auto               m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(K, 2));
  m->SetConditionSchema({ Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  auto maps = MapsOfVaryingComposition(n, H, W, 0.3, 0.05, 1);
  auto upper = MapsOfVaryingComposition(n, H, W, 0.6, 0.15, 2);
  maps.insert(maps.end(), upper.begin(), upper.end());
  std::vector<Prior::Condition> conditions(n, Cond(-1.0));
  conditions.insert(conditions.end(), n, Cond(1.0));
  EXPECT_NE(ExceptionText([&] {
              m->SetCompositionLevel({ 0.0f, 1.0f, 0.5f }, 1, maps.data(), 2 * n, H, W, conditions);
            }),
            "(no exception)");
  m->SetCompositionLevel({ 0.0f, 1.0f }, 1, maps.data(), 2 * n, H, W, conditions, 0.0);
  ASSERT_TRUE(m->HasCompositionLevel());
  EXPECT_FALSE(m->IsInitialized()) << "the level changes the network's input: the network is discarded";

  const auto   share = ShareOfCodeOne(maps, per);
  const double mean = MeanOf(share, 0, 2 * n), sd = std::sqrt(VarianceOf(share, 0, 2 * n));
  const auto   u = m->Compositions(maps.data(), 2 * n, H, W);
  for (unsigned int i = 0; i < 2 * n; i += 97)
    EXPECT_NEAR(u[i], (share[i] - mean) / sd, 1e-9);
  double logSd[2];
  for (unsigned int g = 0; g < 2; ++g)
  {
    const auto top = m->GetCompositionPrior(Cond(g == 0 ? -1.0 : 1.0));
    EXPECT_NEAR(top.Mean[0], (MeanOf(share, g * n, n) - mean) / sd, 1e-5) << g;
    EXPECT_NEAR(top.StdDev[0], std::sqrt(VarianceOf(share, g * n, n)) / sd, 1e-5) << g;
    logSd[g] = std::log(top.StdDev[0]);
  }
  const auto mid = m->GetCompositionPrior(Cond(0.0));
  EXPECT_NEAR(
    mid.Mean[0], 0.5 * (m->GetCompositionPrior(Cond(-1.0)).Mean[0] + m->GetCompositionPrior(Cond(1.0)).Mean[0]), 1e-5);
  EXPECT_NEAR(std::log(mid.StdDev[0]), 0.5 * (logSd[0] + logSd[1]), 1e-5);

  m->SetSeed(3);
  m->SetDevice("cpu");
  m->Initialize();
  const std::vector<Prior::Condition> at{ Cond(0.4) };
  const auto                          logL = m->LogLikelihood(maps.data(), 5, H, W, at);
  const auto                          logits = m->Logits(maps.data(), 5, H, W, at);
  const auto                          top = m->GetCompositionPrior(at[0]);
  for (unsigned int i = 0; i < 5; ++i)
  {
    double expected = 0.0;
    for (unsigned int p = 0; p < per; ++p)
    {
      const double a = logits[(i * K + 0) * per + p], b = logits[(i * K + 1) * per + p];
      const double mx = std::max(a, b);
      expected += logits[(i * K + maps[i * per + p]) * per + p] - mx - std::log(std::exp(a - mx) + std::exp(b - mx));
    }
    const double z = (u[i] - top.Mean[0]) / top.StdDev[0];
    expected += -0.5 * z * z - std::log(top.StdDev[0]) - 0.5 * std::log(2.0 * 3.141592653589793);
    EXPECT_NEAR(logL[i], expected, 1e-6) << i;
  }

  const auto dir = TempDir("composition");
  const auto path = (dir / "prior.model").string();
  m->Write(path);
  auto back = Prior::New();
  back->SetDevice("cpu");
  back->Read(path);
  ASSERT_TRUE(back->HasCompositionLevel());
  EXPECT_EQ(back->GetCompositionCodeValues(), m->GetCompositionCodeValues());
  EXPECT_EQ(back->Sample(20, H, W, at, 1.0, 11), m->Sample(20, H, W, at, 1.0, 11));
  EXPECT_EQ(back->Compositions(maps.data(), 3, H, W), m->Compositions(maps.data(), 3, H, W));

  std::string bytes = WithoutHeaderChecksum(FileBytes(path));
  const auto  line = bytes.find("composition_prior_log_sd = ");
  ASSERT_NE(line, std::string::npos);
  bytes.replace(line, bytes.find('\n', line) - line, "composition_prior_log_sd = 1");
  std::ofstream(path, std::ios::binary) << bytes;
  const auto message = ExceptionText([&] { back->Read(path); });
  EXPECT_NE(message.find("composition_prior_log_sd"), std::string::npos) << message;
  fs::remove_all(dir);
}

// What the level is for: "real" maps whose composition varies from map to map (sd 0.05 of the share
// at c = -1, 0.15 at c = 1; positions independent given it). A network that sees a quarter of the map
// infers the share from the positions it sees, so its maps vary less than the real maps; with the
// composition level, as much.
TEST(PixelCNNPriorModel, CompositionLevelCarriesThePerMapVariation)
{
  // 16 x 16 maps and 2 layers: the network sees about 4 rows back, a quarter of the map.
  const unsigned int H = 16, W = 16, n = 600, per = H * W, samples = 400;
  const auto         data = MapsAtTwoConditions(n, H, W, 0.05, 0.15, 5, 6);
  const auto &       real = data.maps;
  const auto &       conditions = data.conditions;
  const auto         realShare = ShareOfCodeOne(real, per);

  double ratio[2][2]; // [with level][condition]: sampled over real variance of the share
  for (const bool level : { false, true })
  {
    auto       m = TrainedTinyPrior(real, conditions, n, H, W, level, 2, 4, 250, 64);
    const auto fit = SampledShareFit(m, realShare, n, samples, H, W, 21);
    for (unsigned int g = 0; g < 2; ++g)
    {
      ratio[level][g] = fit.ratio[g];
      if (level)
        EXPECT_LE(fit.meanError[g], 0.04) << g;
    }
  }
  // With the level, within the noise of 400 samples; without, the variation the network misses shows.
  for (unsigned int g = 0; g < 2; ++g)
  {
    EXPECT_GT(ratio[1][g], 0.65) << g;
    EXPECT_LT(ratio[1][g], 1.5) << g;
    EXPECT_LT(std::abs(std::log(ratio[1][g])), std::abs(std::log(ratio[0][g]))) << g;
  }
  std::cout << "share variance ratio at c = -1 / 1: network alone " << ratio[0][0] << " / " << ratio[0][1]
            << ", with the composition level " << ratio[1][0] << " / " << ratio[1][1] << "\n";
}

// Composition candidates: a network trained briefly, given the drawn composition u and its budget,
// still draws maps whose share of code 1 strays from u (less than without the budget), so the sampled
// shares' mean misses the real maps' (which the top level is fitted to) by about 0.02 at c = -1, three
// times the sampling noise of 300 shares. Of C = 16 candidates per map, the one nearest u is kept: the
// kept shares' mean comes out nearer the real maps', their variance near it. C outside 1..64 throws;
// without the level C changes nothing.
TEST(PixelCNNPriorModel, CompositionCandidatesKeepTheMapNearestItsComposition)
{
  const unsigned int H = 16, W = 16, n = 400, per = H * W, samples = 300;
  const auto         data = MapsAtTwoConditions(n, H, W, 0.08, 0.12, 7, 8);
  const auto &       real = data.maps;
  const auto &       conditions = data.conditions;
  const auto         realShare = ShareOfCodeOne(real, per);
  auto               m = TrainedTinyPrior(real, conditions, n, H, W, true, 3, 5, 20, 32);
  double             ratio[2][2], meanError[2][2]; // [C = 1, 16][condition]
  for (const unsigned int c : { 0u, 1u })
  {
    m->SetCompositionCandidates(c == 0 ? 1 : 16);
    const auto fit = SampledShareFit(m, realShare, n, samples, H, W, 31);
    for (unsigned int g = 0; g < 2; ++g)
      ratio[c][g] = fit.ratio[g], meanError[c][g] = fit.meanError[g];
  }
  EXPECT_GT(std::max(meanError[0][0], meanError[0][1]), 0.012) << "the network given u should stray from it";
  EXPECT_LT(std::max(meanError[1][0], meanError[1][1]), 0.6 * std::max(meanError[0][0], meanError[0][1]));
  for (unsigned int g = 0; g < 2; ++g)
  {
    EXPECT_GT(ratio[1][g], 0.7) << g;
    EXPECT_LT(ratio[1][g], 1.4) << g;
    EXPECT_LT(meanError[1][g], 0.025) << g; // the sampling noise of 300 shares: about 0.006
    EXPECT_LT(meanError[1][g], 0.5 * meanError[0][g] + 0.005) << g;
  }
  std::cout << "share variance ratio at c = -1 / 1: 1 candidate " << ratio[0][0] << " / " << ratio[0][1]
            << ", 16 candidates " << ratio[1][0] << " / " << ratio[1][1] << "; mean error " << meanError[0][0] << " / "
            << meanError[0][1] << " -> " << meanError[1][0] << " / " << meanError[1][1] << "\n";
  EXPECT_THROW(m->SetCompositionCandidates(0), itk::ExceptionObject);
  EXPECT_THROW(m->SetCompositionCandidates(65), itk::ExceptionObject);
  auto       plain = TinyPrior(3, 2, 17, TwoParameterSchema());
  const auto one = plain->Sample(4, 3, 3, { Cond(0.5, "air") }, 1.0, 9);
  plain->SetCompositionCandidates(8);
  EXPECT_EQ(plain->Sample(4, 3, 3, { Cond(0.5, "air") }, 1.0, 9), one) << "no level: candidates change nothing";
}

// The composition budget that the level carries keeps the network autoregressive: swapping the indices
// at positions p and q > p (which keeps the map's composition u, an input of every position) changes no
// logits at or before p. It is a global summary of the earlier positions: with it, after swapping the
// first and the last position, the position before the last sees the change, six rows below (outside
// the two layers' receptive field); the same network without the level does not. The incremental
// sampler draws what the naive one (a full forward pass per position) draws. The file keeps the budget
// (same samples after Read); a damaged budget line, a budget line without the level and a level
// without its budget line (a file of session 22's budget-less level) are refused.
TEST(PixelCNNPriorModel, CompositionBudgetIsCausalGlobalAndRoundTrips)
{
  const unsigned int                  H = 7, W = 6, n = 40, per = H * W;
  const auto                          data = MapsAtTwoConditions(n, H, W, 0.08, 0.12, 3, 4);
  auto                                plain = TrainedTinyPrior(data.maps, data.conditions, n, H, W, false, 5, 1, 0, 1);
  auto                                m = TrainedTinyPrior(data.maps, data.conditions, n, H, W, true, 5, 1, 0, 1);
  const std::vector<Prior::Condition> cond{ Cond(0.2) };
  std::vector<int32_t>                maps(per);
  for (unsigned int p = 0; p < per; ++p)
    maps[p] = static_cast<int32_t>((p * 7 + p / 5) % 3 == 0); // both codes in every row
  auto maxDiff = [&](const std::vector<float> & a, const std::vector<float> & b, unsigned int q) {
    return std::max(std::abs(a[q] - b[q]), std::abs(a[per + q] - b[per + q])); // K = 2
  };
  auto swapped = [&](unsigned int p) { // p with the next position of the other code
    auto         changed = maps;
    unsigned int q = p + 1;
    while (q < per && maps[q] == maps[p])
      ++q;
    if (q < per)
      std::swap(changed[p], changed[q]);
    return changed;
  };
  const auto base = m->Logits(maps.data(), 1, H, W, cond);
  for (unsigned int p = 0; p + 6 < per; p += 5)
  {
    const auto changed = swapped(p);
    ASSERT_NE(changed, maps) << p;
    const auto after = m->Logits(changed.data(), 1, H, W, cond);
    for (unsigned int q = 0; q <= p; ++q)
      EXPECT_LT(maxDiff(after, base, q), 1e-6) << "position " << q << " sees a later position than " << p;
  }
  auto ends = maps;
  ends[0] = 1, ends[per - 1] = 0;
  maps[0] = 0, maps[per - 1] = 1;
  EXPECT_GT(maxDiff(m->Logits(ends.data(), 1, H, W, cond), m->Logits(maps.data(), 1, H, W, cond), per - 2), 1e-5)
    << "with the budget, position " << per - 2 << " sees position 0";
  EXPECT_LT(maxDiff(plain->Logits(ends.data(), 1, H, W, cond), plain->Logits(maps.data(), 1, H, W, cond), per - 2),
            1e-7)
    << "without the level and its budget, position " << per - 2 << " is outside position 0's receptive field";

  m->SetSampler("naive");
  const auto naive = m->Sample(5, H, W, { Cond(-0.5) }, 1.0, 17);
  m->SetSampler("incremental");
  EXPECT_EQ(m->Sample(5, H, W, { Cond(-0.5) }, 1.0, 17), naive);

  const auto dir = TempDir("budget");
  const auto path = (dir / "prior.model").string();
  m->Write(path);
  auto back = Prior::New();
  back->SetDevice("cpu");
  back->Read(path);
  EXPECT_EQ(back->Sample(5, H, W, { Cond(-0.5) }, 1.0, 17), naive);

  const std::string written = WithoutHeaderChecksum(FileBytes(path));
  const auto        line = written.find("composition_budget = 1\n");
  ASSERT_NE(line, std::string::npos);
  auto refusal = [&](const std::string & bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
    return ExceptionText([&] { back->Read(path); });
  };
  const auto damaged = refusal(std::string(written).replace(line, 22, "composition_budget = 2"));
  EXPECT_NE(damaged.find("composition_budget"), std::string::npos) << damaged;
  const auto withoutBudget = refusal(std::string(written).erase(line, 23));
  EXPECT_NE(withoutBudget.find("no composition budget"), std::string::npos) << withoutBudget;
  EXPECT_NE(withoutBudget.find("retrain"), std::string::npos) << withoutBudget;
  plain->Write(path);
  std::string noLevel = WithoutHeaderChecksum(FileBytes(path));
  noLevel.insert(noLevel.find("end_header\n"), "composition_budget = 1\n");
  const auto budgetAlone = refusal(noLevel);
  EXPECT_NE(budgetAlone.find("comes with a composition level"), std::string::npos) << budgetAlone;
  fs::remove_all(dir);
}

// What the budget is for: a briefly trained network (20 steps) given the drawn composition u, which
// without the budget drifted from u (session 22: shares' mean off by more than 0.03 here), draws maps
// whose own share follows u: the sampled shares' mean comes out as the real maps', their variance near
// it, at the cost of one sample per map.
TEST(PixelCNNPriorModel, CompositionBudgetKeepsMapsAtTheirComposition)
{
  const unsigned int H = 16, W = 16, n = 400, per = H * W, samples = 300;
  const auto         data = MapsAtTwoConditions(n, H, W, 0.08, 0.12, 7, 8);
  const auto         realShare = ShareOfCodeOne(data.maps, per);
  auto               m = TrainedTinyPrior(data.maps, data.conditions, n, H, W, true, 3, 5, 20, 32);
  const auto         fit = SampledShareFit(m, realShare, n, samples, H, W, 31);
  std::cout << "share variance ratio at c = -1 / 1: " << fit.ratio[0] << " / " << fit.ratio[1] << "; mean error "
            << fit.meanError[0] << " / " << fit.meanError[1] << "\n";
  for (unsigned int g = 0; g < 2; ++g)
  {
    EXPECT_GT(fit.ratio[g], 0.7) << g;
    EXPECT_LT(fit.ratio[g], 1.4) << g;
    EXPECT_LT(fit.meanError[g], 0.025) << g;
  }
}

// Two composition values per map (the share of code 0 and of code 1, drawn anticorrelated): the top
// level's correlation is the maps' within-condition correlation pooled over the conditions, and the
// likelihood adds the bivariate normal log density, computed here by hand.
TEST(PixelCNNPriorModel, CompositionLevelOfTwoValuesFitsTheirCorrelation)
{
  const unsigned int                     K = 3, H = 6, W = 6, n = 200, per = H * W, L = 2;
  std::mt19937                           rng(8);
  std::normal_distribution<double>       noise(0.0, 1.0);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<int32_t>                   maps;
  std::vector<Prior::Condition>          conditions;
  for (unsigned int i = 0; i < 2 * n; ++i)
  {
    const double c = i < n ? -1.0 : 1.0;
    const double a = std::clamp(0.3 + 0.05 * c + 0.08 * noise(rng), 0.05, 0.6);
    const double b = std::clamp(0.6 - a + 0.05 * noise(rng), 0.05, 0.9 - a);
    for (unsigned int p = 0; p < per; ++p)
    {
      const double x = u01(rng);
      maps.push_back(x < a ? 0 : (x < a + b ? 1 : 2));
    }
    conditions.push_back(Cond(c));
  }
  auto m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(K, 2));
  m->SetConditionSchema({ Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  EXPECT_NE(ExceptionText([&] {
              m->SetCompositionLevel({ 1, 0, 0, 1, 0 }, L, maps.data(), 2 * n, H, W, conditions);
            }),
            "(no exception)");
  m->SetCompositionLevel({ 1, 0, 0, 1, 0, 0 }, L, maps.data(), 2 * n, H, W, conditions, 0.0);
  ASSERT_EQ(m->GetCompositionCount(), L);
  const auto u = m->Compositions(maps.data(), 2 * n, H, W);
  // The pooled within-condition correlation, from the standardised compositions directly.
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (unsigned int g = 0; g < 2; ++g)
  {
    double ma = 0.0, mb = 0.0, va = 0.0, vb = 0.0, cab = 0.0;
    for (unsigned int i = g * n; i < (g + 1) * n; ++i)
      ma += u[i * L] / n, mb += u[i * L + 1] / n;
    for (unsigned int i = g * n; i < (g + 1) * n; ++i)
    {
      va += (u[i * L] - ma) * (u[i * L] - ma);
      vb += (u[i * L + 1] - mb) * (u[i * L + 1] - mb);
      cab += (u[i * L] - ma) * (u[i * L + 1] - mb);
    }
    sab += cab / std::sqrt(va * vb), saa += 1.0, sbb += 1.0;
  }
  const auto top = m->GetCompositionPrior(Cond(0.3));
  ASSERT_EQ(top.Correlation.size(), 4u);
  EXPECT_NEAR(top.Correlation[1], sab / std::sqrt(saa * sbb), 1e-9);
  EXPECT_LT(top.Correlation[1], -0.5) << "the shares were drawn anticorrelated";

  m->SetSeed(5);
  m->SetDevice("cpu");
  m->Initialize();
  const std::vector<Prior::Condition> at{ Cond(0.3) };
  const auto                          logL = m->LogLikelihood(maps.data(), 4, H, W, at);
  const auto                          logits = m->Logits(maps.data(), 4, H, W, at);
  const double                        rho = top.Correlation[1];
  for (unsigned int i = 0; i < 4; ++i)
  {
    double expected = 0.0;
    for (unsigned int p = 0; p < per; ++p)
    {
      double mx = -1e300, z = 0.0;
      for (unsigned int k = 0; k < K; ++k)
        mx = std::max(mx, static_cast<double>(logits[(i * K + k) * per + p]));
      for (unsigned int k = 0; k < K; ++k)
        z += std::exp(logits[(i * K + k) * per + p] - mx);
      expected += logits[(i * K + maps[i * per + p]) * per + p] - mx - std::log(z);
    }
    const double a = (u[i * L] - top.Mean[0]) / top.StdDev[0], b = (u[i * L + 1] - top.Mean[1]) / top.StdDev[1];
    expected += -(a * a - 2 * rho * a * b + b * b) / (2 * (1 - rho * rho)) - std::log(top.StdDev[0] * top.StdDev[1]) -
                0.5 * std::log(1 - rho * rho) - std::log(2.0 * 3.141592653589793);
    EXPECT_NEAR(logL[i], expected, 1e-6) << i;
  }
  // Sampled maps carry the drawn compositions' anticorrelation through the network's input: the file
  // keeps the level, and the samples are the same after Read.
  const auto dir = TempDir("composition2");
  m->Write((dir / "p.model").string());
  auto back = Prior::New();
  back->SetDevice("cpu");
  back->Read((dir / "p.model").string());
  EXPECT_EQ(back->GetCompositionCount(), L);
  EXPECT_EQ(back->GetCompositionPrior(Cond(0.3)).Correlation, top.Correlation);
  EXPECT_EQ(back->Sample(10, H, W, at, 1.0, 2), m->Sample(10, H, W, at, 1.0, 2));
  fs::remove_all(dir);
}
