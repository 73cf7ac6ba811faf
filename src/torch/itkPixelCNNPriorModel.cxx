/*=========================================================================
 * itk::PixelCNNPriorModel: the public, torch-free face of the conditional
 * gated PixelCNN (itkPixelCNNNetwork.h): conditions, training step,
 * likelihood, samplers and the model file.
 *=========================================================================*/
#include "itkPixelCNNPriorModel.h"
#include "itkPixelCNNNetwork.h"
#include "itkModelFile.h"
#include "itkTorchSupport.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructurePosterior.h"
#include "itkMultiThreaderBase.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

namespace itk
{

struct PixelCNNPriorModel::Impl
{
  pixelcnn::Network       network{ nullptr };
  torchsupport::Optimizer optimizer;
  torch::Device           device{ torch::kCPU };
};

namespace
{

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

[[noreturn]] void
Fail(const std::string & message)
{
  ExceptionObject e(__FILE__, __LINE__, "PixelCNNPriorModel: " + message, ITK_LOCATION);
  throw e;
}

using modelfile::EscapeField;
using modelfile::Exact; // 17 significant digits: reads back exactly
using modelfile::JoinCounts;
using modelfile::JoinFloats;
using modelfile::ParseCounts;
using modelfile::ParseDouble;
using modelfile::SplitFields;
using modelfile::SplitOn;
using modelfile::Trim;

pixelcnn::NetworkOptions
ToOptions(const PixelCNNPriorModel::Hyperparameters & h, unsigned int conditionLength, unsigned int budgetCount = 0)
{
  pixelcnn::NetworkOptions o;
  o.codebookSize = h.CodebookSize;
  o.embeddingDimension = h.EmbeddingDimension;
  o.hiddenChannels = h.HiddenChannels;
  o.layers = h.NumberOfLayers;
  o.firstKernelSize = h.FirstKernelSize;
  o.kernelSize = h.KernelSize;
  o.outputHiddenChannels = h.OutputHiddenChannels;
  o.conditionDimension = conditionLength;
  o.dilations.assign(h.Dilations.begin(), h.Dilations.end());
  o.budgetCount = budgetCount;
  return o;
}

/** A network with the composition budget of L values per code (K x L values, standardised by mean and sd). */
pixelcnn::Network
BudgetedNetwork(const pixelcnn::NetworkOptions & options, const std::vector<float> & values,
                const std::vector<double> & mean, const std::vector<double> & sd)
{
  pixelcnn::Network network(options);
  if (options.budgetCount > 0)
    network->SetBudget(std::vector<double>(values.begin(), values.end()), mean, sd);
  return network;
}

void
ValidateSchema(const PixelCNNPriorModel::ConditionSchema & schema)
{
  std::set<std::string> names;
  for (const auto & s : schema)
  {
    if (Trim(s.Name).empty())
      Fail("a process parameter of the condition schema has an empty name: give every parameter a name");
    if (!names.insert(s.Name).second)
      Fail("the process parameter \"" + s.Name + "\" appears twice in the condition schema: names must be distinct");
    if (s.Categorical)
    {
      if (s.Categories.empty())
        Fail("the categorical parameter \"" + s.Name + "\" has no categories: list at least one");
      std::set<std::string> categories;
      for (const auto & c : s.Categories)
      {
        if (Trim(c).empty())
          Fail("the categorical parameter \"" + s.Name + "\" has an empty category name");
        if (!categories.insert(c).second)
          Fail("the categorical parameter \"" + s.Name + "\" lists category \"" + c + "\" twice");
      }
    }
    else
    {
      if (!(s.StdDev > 0.0) || !std::isfinite(s.StdDev) || !std::isfinite(s.Mean))
        Fail("the continuous parameter \"" + s.Name + "\" needs a finite Mean and a finite StdDev > 0 (StdDev is " +
             Exact(s.StdDev) + ")");
      if (!(s.Minimum <= s.Maximum) || !std::isfinite(s.Minimum) || !std::isfinite(s.Maximum))
        Fail("the continuous parameter \"" + s.Name + "\" needs a finite Minimum <= Maximum (the range it was trained on)");
      if (s.Degree < 1 || s.Degree > PixelCNNPriorModel::MaximumConditionDegree)
        Fail("the continuous parameter \"" + s.Name + "\" has Degree " + std::to_string(s.Degree) +
             ": give 1 (linear, the paper), 2 or 3");
      std::set<double> rates;
      for (const auto & t : s.ExponentialTerms)
      {
        if (!std::isfinite(t.Rate) || t.Rate == 0.0 || !rates.insert(t.Rate).second)
          Fail("the continuous parameter \"" + s.Name + "\" has an exponential term of rate " + Exact(t.Rate) +
               ": each rate must be finite, non-zero and given once (e.g. -1: 1 / value of an ln_ parameter)");
        if (!std::isfinite(t.Mean) || !(t.StdDev > 0.0) || !std::isfinite(t.StdDev))
          Fail("the exponential term of rate " + Exact(t.Rate) + " of the parameter \"" + s.Name +
               "\" needs a finite Mean and a finite StdDev > 0 (StdDev is " + Exact(t.StdDev) + ")");
      }
    }
  }
}

/** Length of the encoded condition vector of a schema: Degree + exponential terms per continuous
 * parameter, the number of categories per categorical one. */
unsigned int
EncodedLength(const PixelCNNPriorModel::ConditionSchema & schema)
{
  unsigned int n = 0;
  for (const auto & s : schema)
    n += s.Categorical ? static_cast<unsigned int>(s.Categories.size())
                       : s.Degree + static_cast<unsigned int>(s.ExponentialTerms.size());
  return n;
}

/** The largest |standardised value| (and |standardised exponential term|) of a continuous condition
 * that EncodeConditions accepts. */
constexpr double MaximumStandardisedCondition = 100.0;
/** The most values per map of the composition level. */
constexpr unsigned int MaximumCompositionCount = 8;

} // namespace

void
PixelCNNPriorModel::Hyperparameters::Validate() const
{
  auto fail = [](const std::string & what) { Fail("invalid hyperparameters: " + what); };
  if (CodebookSize < 2)
    fail("CodebookSize (K) must be at least 2, it is " + std::to_string(CodebookSize));
  if (EmbeddingDimension < 1)
    fail("EmbeddingDimension must be at least 1");
  if (HiddenChannels < 1)
    fail("HiddenChannels must be at least 1");
  if (NumberOfLayers < 1 || NumberOfLayers > 200)
    fail("NumberOfLayers must lie in 1..200, it is " + std::to_string(NumberOfLayers));
  if (FirstKernelSize < 3 || FirstKernelSize % 2 == 0 || FirstKernelSize > 31)
    fail("FirstKernelSize must be odd, 3..31 (the paper uses 7), it is " + std::to_string(FirstKernelSize));
  if (KernelSize < 1 || KernelSize % 2 == 0 || KernelSize > 31)
    fail("KernelSize must be odd, 1..31 (the paper uses 3), it is " + std::to_string(KernelSize));
  if (OutputHiddenChannels < 1)
    fail("OutputHiddenChannels must be at least 1");
  for (const unsigned int d : Dilations)
    if (d < 1 || d > 64)
      fail("every dilation must lie in 1..64 (1 = none), one is " + std::to_string(d));
}


PixelCNNPriorModel::ConditionSpec
PixelCNNPriorModel::LearnContinuousCondition(const std::string & name, const std::vector<double> & values,
                                             unsigned int degree, const std::vector<double> & exponentialRates)
{
  if (values.empty())
    Fail("cannot learn the parameter \"" + name + "\" from an empty column");
  if (degree < 1 || degree > MaximumConditionDegree)
    Fail("the degree of the parameter \"" + name + "\" is " + std::to_string(degree) +
         ": give 1 (linear in the parameter, the paper), 2 or 3");
  double sum = 0.0;
  ConditionSpec s;
  s.Name = name;
  s.Minimum = values[0];
  s.Maximum = values[0];
  for (size_t i = 0; i < values.size(); ++i)
  {
    if (!std::isfinite(values[i]))
      Fail("value " + std::to_string(i) + " of the parameter \"" + name + "\" is " + Exact(values[i]) +
           ": every training value of a continuous parameter must be a finite number");
    sum += values[i];
    s.Minimum = std::min(s.Minimum, values[i]);
    s.Maximum = std::max(s.Maximum, values[i]);
  }
  s.Mean = sum / values.size();
  double var = 0.0;
  for (const double v : values)
    var += (v - s.Mean) * (v - s.Mean);
  s.StdDev = std::sqrt(var / values.size());
  if (!(s.StdDev > 0.0))
    s.StdDev = 1.0; // one value only: centred, not scaled
  const size_t distinct = std::set<double>(values.begin(), values.end()).size();
  // Degree 1 takes any column (one value only: a constant the network can ignore); a curve of a
  // higher degree needs degree + 1 distinct values to be determined by them.
  if (degree > 1 && distinct < degree + 1)
    Fail("the parameter \"" + name + "\" has " + std::to_string(distinct) + " distinct training value" +
         (distinct == 1 ? "" : "s") + ": degree " + std::to_string(degree) + " needs at least " +
         std::to_string(degree + 1) + " (a curve of that degree is not determined by fewer); use degree " +
         std::to_string(std::max<size_t>(1, distinct - 1)));
  s.Degree = degree;
  {
    ConditionSpec check = s; // the rates first: zero, repeated or not finite
    for (const double a : exponentialRates)
      check.ExponentialTerms.push_back({ a, 0.0, 1.0 });
    ValidateSchema({ check });
  }
  const size_t terms = degree + exponentialRates.size();
  if (!exponentialRates.empty() && distinct < terms + 1)
    Fail("the parameter \"" + name + "\" has " + std::to_string(distinct) + " distinct training value" +
         (distinct == 1 ? "" : "s") + ": degree " + std::to_string(degree) + " and " +
         std::to_string(exponentialRates.size()) + " exponential term" + (exponentialRates.size() == 1 ? "" : "s") +
         " need at least " + std::to_string(terms + 1) +
         " (the curve is not determined by fewer); drop terms or train on more values");
  for (const double a : exponentialRates)
  {
    ExponentialTerm t;
    t.Rate = a;
    double termSum = 0.0, termSquares = 0.0;
    for (const double v : values)
    {
      const double e = std::exp(a * v);
      if (!std::isfinite(e) || !(e > 0.0))
        Fail("exp(" + Exact(a) + " x) of the parameter \"" + name + "\" is " + Exact(e) + " at x = " +
             Exact(v) + ": give a rate of a smaller size, or the parameter's logarithm (an ln_ parameter)");
      termSum += e;
    }
    t.Mean = termSum / values.size();
    for (const double v : values)
      termSquares += (std::exp(a * v) - t.Mean) * (std::exp(a * v) - t.Mean);
    t.StdDev = std::sqrt(termSquares / values.size());
    if (!(t.StdDev > 0.0) || !std::isfinite(t.StdDev))
      Fail("exp(" + Exact(a) + " x) of the parameter \"" + name +
           "\" does not vary over the training values: give a rate of a larger size");
    s.ExponentialTerms.push_back(t);
  }
  return s;
}

PixelCNNPriorModel::ConditionSpec
PixelCNNPriorModel::LearnCategoricalCondition(const std::string & name, const std::vector<std::string> & values)
{
  if (values.empty())
    Fail("cannot learn the parameter \"" + name + "\" from an empty column");
  std::set<std::string> distinct;
  for (const auto & v : values)
  {
    if (Trim(v).empty())
      Fail("the categorical parameter \"" + name + "\" has an empty value in its column: fill it in or drop the row");
    distinct.insert(v);
  }
  ConditionSpec s;
  s.Name = name;
  s.Categorical = true;
  s.Categories.assign(distinct.begin(), distinct.end());
  return s;
}

PixelCNNPriorModel::ConditionSpec
PixelCNNPriorModel::LearnCondition(const std::string & name, const std::vector<std::string> & values, bool categorical,
                                   unsigned int degree, const std::vector<double> & exponentialRates)
{
  if (categorical)
    return LearnCategoricalCondition(name, values);
  std::vector<double> numbers(values.size());
  for (size_t i = 0; i < values.size(); ++i)
  {
    if (!ParseDouble(values[i], numbers[i]))
      Fail("value " + std::to_string(i) + " of the parameter \"" + name + "\" is \"" + values[i] +
           "\", not a number: a continuous parameter needs numbers (or declare it categorical)");
  }
  return LearnContinuousCondition(name, numbers, degree, exponentialRates);
}


PixelCNNPriorModel::PixelCNNPriorModel()
  : m_Impl(std::make_unique<Impl>())
{}

PixelCNNPriorModel::~PixelCNNPriorModel() = default;

void
PixelCNNPriorModel::SetHyperparameters(const Hyperparameters & h)
{
  h.Validate();
  m_Hyperparameters = h;
  this->Modified();
}

void
PixelCNNPriorModel::CheckCompatibleCodebookSize(unsigned int K) const
{
  if (K != m_Hyperparameters.CodebookSize)
  {
    itkExceptionMacro(<< "the prior models index maps of " << m_Hyperparameters.CodebookSize
                      << " codes, but the VQ-VAE has a codebook of " << K
                      << " codes: they were not trained together; use the prior trained on this VQ-VAE's index maps "
                         "(or train one with CodebookSize = "
                      << K << ")");
  }
}

void
PixelCNNPriorModel::CheckCompatibleVQVAE(unsigned int K, const std::string & weightsFingerprint) const
{
  this->CheckCompatibleCodebookSize(K);
  if (!m_VQVAEFingerprint.empty() && !weightsFingerprint.empty() && m_VQVAEFingerprint != weightsFingerprint)
  {
    itkExceptionMacro(<< "the prior was trained on the index maps of another VQ-VAE (weights checksum "
                      << m_VQVAEFingerprint << ", this VQ-VAE's " << weightsFingerprint
                      << "): its codes mean other things here; use the VQ-VAE the prior was trained with, or train "
                         "a prior on this one's index maps");
  }
}

void
PixelCNNPriorModel::SetConditionSchema(const ConditionSchema & schema)
{
  ValidateSchema(schema);
  m_ConditionSchema = schema;
  m_Impl->network = nullptr;
  m_Impl->optimizer.Reset();
  this->Modified();
}

unsigned int
PixelCNNPriorModel::GetEncodedConditionLength() const
{
  return EncodedLength(m_ConditionSchema);
}

std::vector<float>
PixelCNNPriorModel::EncodeConditions(const std::vector<Condition> & conditions, unsigned int n) const
{
  if (conditions.empty() && m_ConditionSchema.empty())
  {
    return {}; // an unconditional prior needs no conditions
  }
  if (conditions.size() != 1 && conditions.size() != n)
  {
    itkExceptionMacro(<< "got " << conditions.size() << " conditions for " << n
                      << " maps: give one condition for all maps or one per map");
  }
  const unsigned int D = this->GetEncodedConditionLength();
  std::vector<float> out(static_cast<size_t>(conditions.size()) * D, 0.0f);
  std::set<std::string> outside;
  for (size_t i = 0; i < conditions.size(); ++i)
  {
    const auto & cond = conditions[i];
    const std::string which = conditions.size() > 1 ? " (condition of map " + std::to_string(i) + ")" : "";
    for (const auto & kv : cond)
    {
      const bool known = std::any_of(m_ConditionSchema.begin(), m_ConditionSchema.end(),
                                     [&](const ConditionSpec & s) { return s.Name == kv.first; });
      if (!known)
      {
        std::string names;
        for (const auto & s : m_ConditionSchema)
          names += (names.empty() ? "" : ", ") + s.Name;
        itkExceptionMacro(<< "unknown process parameter \"" << kv.first << "\"" << which
                          << ": this prior knows " << (names.empty() ? std::string("none (it is unconditional)") : names));
      }
    }
    float * o = out.data() + i * D;
    for (const auto & s : m_ConditionSchema)
    {
      const auto it = cond.find(s.Name);
      if (it == cond.end())
      {
        itkExceptionMacro(<< "the process parameter \"" << s.Name << "\" is missing" << which
                          << ": the prior was trained with it, give its value");
      }
      if (s.Categorical)
      {
        const auto c = std::find(s.Categories.begin(), s.Categories.end(), it->second);
        if (c == s.Categories.end())
        {
          std::string names;
          for (const auto & cat : s.Categories)
            names += (names.empty() ? "" : ", ") + cat;
          itkExceptionMacro(<< "unknown category \"" << it->second << "\" of the parameter \"" << s.Name << "\"" << which
                            << ": the prior was trained on " << names);
        }
        o[c - s.Categories.begin()] = 1.0f;
        o += s.Categories.size();
      }
      else
      {
        double v = 0.0;
        if (!ParseDouble(it->second, v) || !std::isfinite(v))
        {
          itkExceptionMacro(<< "the value \"" << it->second << "\" of the parameter \"" << s.Name << "\"" << which
                            << " is not a finite number: give a number");
        }
        if (v < s.Minimum || v > s.Maximum)
          outside.insert(s.Name + " = " + Trim(it->second) + " (trained on " + Exact(s.Minimum) + " .. " +
                         Exact(s.Maximum) + ")");
        const double z = (v - s.Mean) / s.StdDev;
        // Far outside the trained values the biases overflow and the logits become NaN: refused.
        bool tooFar = !(std::abs(z) <= MaximumStandardisedCondition);
        for (const auto & t : s.ExponentialTerms)
          tooFar = tooFar || !(std::abs((std::exp(t.Rate * v) - t.Mean) / t.StdDev) <= MaximumStandardisedCondition);
        if (tooFar)
        {
          itkExceptionMacro(<< "the value " << Trim(it->second) << " of the parameter \"" << s.Name << "\"" << which
                            << " lies too far outside the values the prior was trained on (" << Exact(s.Minimum)
                            << " .. " << Exact(s.Maximum) << ", mean " << Exact(s.Mean) << ", sd "
                            << Exact(s.StdDev) << "): more than " << MaximumStandardisedCondition
                            << " standard deviations, where the network's output is meaningless; give a value nearer "
                               "the trained range");
        }
        double power = 1.0;
        for (unsigned int d = 0; d < s.Degree; ++d)
          *o++ = static_cast<float>(power *= z); // z, z^2, .., z^Degree
        for (const auto & t : s.ExponentialTerms)
          *o++ = static_cast<float>((std::exp(t.Rate * v) - t.Mean) / t.StdDev);
      }
    }
  }
  if (!outside.empty())
  {
    std::string list;
    for (const auto & s : outside)
      list += (list.empty() ? "" : "; ") + s;
    itkWarningMacro(<< "process parameters outside the range the prior was trained on (extrapolating): " << list);
  }
  if (conditions.size() == 1 && n > 1)
  {
    std::vector<float> all(static_cast<size_t>(n) * D);
    for (unsigned int i = 0; i < n; ++i)
      std::copy(out.begin(), out.end(), all.begin() + static_cast<size_t>(i) * D);
    return all;
  }
  return out;
}

bool
PixelCNNPriorModel::IsInitialized() const
{
  return !m_Impl->network.is_empty();
}

void
PixelCNNPriorModel::SetDevice(const std::string & device)
{
  std::string         warning;
  const torch::Device resolved = torchsupport::ResolveDevice(device, warning);
  if (!warning.empty())
  {
    itkWarningMacro(<< warning);
  }
  m_Device = device;
  m_Impl->device = resolved;
  if (this->IsInitialized())
  {
    m_Impl->optimizer.Park(); // Adam's moments follow to the new device
    m_Impl->network->to(resolved);
  }
  this->Modified();
}

std::string
PixelCNNPriorModel::GetDeviceInUse() const
{
  return m_Impl->device.str();
}

void
PixelCNNPriorModel::SetPrecision(const std::string & precision)
{
  torchsupport::ResolvePrecision(precision, m_Impl->device); // throws for an unknown name or one this device cannot run
  if (precision != m_Precision)
  {
    m_Precision = precision;
    this->Modified();
  }
}

std::string
PixelCNNPriorModel::GetPrecisionInUse() const
{
  return torchsupport::ResolvePrecision(m_Precision, m_Impl->device);
}

void
PixelCNNPriorModel::SetLearningRate(double rate)
{
  if (!(rate > 0.0) || !std::isfinite(rate))
  {
    itkExceptionMacro(<< "learning rate must be a finite number > 0, it is " << rate);
  }
  m_LearningRate = rate;
  m_Impl->optimizer.SetLearningRate(rate);
  this->Modified();
}

void
PixelCNNPriorModel::SetCompositionCandidates(unsigned int candidates)
{
  if (candidates < 1 || candidates > 64)
  {
    itkExceptionMacro(<< "composition candidates must be 1..64 (maps drawn per map returned; 1 = the network's own "
                         "draw), not "
                      << candidates);
  }
  m_CompositionCandidates = candidates;
  this->Modified();
}

void
PixelCNNPriorModel::SetSampler(const std::string & sampler)
{
  if (sampler != "incremental" && sampler != "naive")
  {
    itkExceptionMacro(<< "unknown sampler \"" << sampler
                      << "\": use \"incremental\" (cached activations, fast) or \"naive\" (the paper's full forward pass "
                         "per position)");
  }
  m_Sampler = sampler;
  this->Modified();
}

void
PixelCNNPriorModel::Initialize()
{
  m_Hyperparameters.Validate();
  ValidateSchema(m_ConditionSchema);
  torchsupport::SetTorchThreads();
  if (m_CompositionBudget && !this->HasCompositionLevel())
  {
    itkExceptionMacro(<< "the composition budget needs the composition level (SetCompositionLevel): set it first, "
                         "or turn the budget off");
  }
  torch::manual_seed(m_Seed);
  m_Impl->network = BudgetedNetwork(ToOptions(m_Hyperparameters, this->GetEncodedConditionLength() + m_CompositionCount,
                                              m_CompositionBudget ? m_CompositionCount : 0),
                                    m_CompositionValues, m_CompositionMean, m_CompositionStdDev);
  m_Impl->network->to(m_Impl->device);
  m_Impl->optimizer.Reset();
  m_NumberOfTrainingSteps = 0;
  m_HasTrainingState = false;
  m_TrainerState.clear();
  this->Modified();
}

void
PixelCNNPriorModel::CheckIndices(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const
{
  if (!this->IsInitialized())
  {
    itkExceptionMacro(<< "the prior has no network: call Initialize() or Read(file) first");
  }
  if (n == 0 || h == 0 || w == 0)
  {
    itkExceptionMacro(<< "index maps of " << n << " x " << h << " x " << w << " are empty: give at least one map of 1 x 1");
  }
  if (indices != nullptr)
  {
    this->CheckIndexRange(indices, static_cast<size_t>(n) * h * w);
  }
}

void
PixelCNNPriorModel::CheckIndexRange(const int32_t * indices, size_t total) const
{
  const int64_t K = m_Hyperparameters.CodebookSize;
  for (size_t i = 0; i < total; ++i)
  {
    if (indices[i] < 0 || indices[i] >= K)
    {
      itkExceptionMacro(<< "codebook index " << indices[i] << " at position " << i << " is outside 0.." << K - 1
                        << ": the index maps do not belong to a VQ-VAE with " << K << " codes");
    }
  }
}

namespace
{
torch::Tensor
IndicesToTensor(const int32_t * indices, unsigned int first, unsigned int count, unsigned int h, unsigned int w,
                const torch::Device & device)
{
  const size_t per = static_cast<size_t>(h) * w;
  return torch::from_blob(const_cast<int32_t *>(indices) + first * per, { count, h, w }, torch::kInt)
    .to(device, torch::kLong);
}

/** The network's condition input for maps first..first+count-1, count x D: the encoded vectors. */
torch::Tensor
ConditionsToTensor(const std::vector<float> & encoded, unsigned int first, unsigned int count, unsigned int D,
                   const torch::Device & device)
{
  if (D == 0)
  {
    return torch::Tensor();
  }
  return torch::from_blob(const_cast<float *>(encoded.data()) + static_cast<size_t>(first) * D, { count, D },
                          torch::kFloat)
    .clone()
    .to(device);
}

/** The network's input for maps first..first+count-1: the condition features (ConditionsToTensor)
 * and, with the composition level, each map's L standardised compositions (composition: n x L) as L
 * more columns. */
torch::Tensor
NetworkInput(const std::vector<float> & encoded, unsigned int first, unsigned int count, unsigned int D,
             const torch::Device & device, const std::vector<double> & composition, unsigned int L)
{
  auto c = ConditionsToTensor(encoded, first, count, D, torch::kCPU);
  if (L > 0)
  {
    const auto u = torch::from_blob(const_cast<double *>(composition.data()) + static_cast<size_t>(first) * L,
                                    { count, L }, torch::kDouble)
                     .to(torch::kFloat);
    c = c.defined() ? torch::cat({ c, u }, 1) : u;
  }
  return c.defined() ? c.to(device) : c;
}

/** The lower Cholesky factor (L x L, row-major) of a symmetric positive definite matrix; empty when
 * it is not positive definite. */
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

/** The composition level's L lines (coefficients t, L x (1 + D)) at each of n maps' condition
 * features (n x D): n x L values. */
std::vector<double>
CompositionLines(const std::vector<float> & t, const std::vector<float> & features, unsigned int n, unsigned int D,
                 unsigned int L)
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

/** A standard normal number from two 53-bit uniforms of the engine (Box-Muller; this project's own
 * transform, so that the numbers are the same on every platform). */
double
StandardNormal(std::mt19937_64 & engine)
{
  const double u1 = (static_cast<double>(engine() >> 11) + 1.0) * (1.0 / 9007199254740992.0); // (0, 1]
  const double u2 = static_cast<double>(engine() >> 11) * (1.0 / 9007199254740992.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

} // namespace

PixelCNNPriorModel::TrainingStepResult
PixelCNNPriorModel::TrainStep(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
                              const std::vector<Condition> & conditions)
{
  this->CheckIndices(indices, n, h, w);
  const auto   encoded = this->EncodeConditions(conditions, n);
  const auto   D = this->GetEncodedConditionLength();
  auto &       net = m_Impl->network;
  auto & adam = m_Impl->optimizer.Get(*net, m_LearningRate, m_Impl->device);
  net->train();
  auto          x = IndicesToTensor(indices, 0, n, h, w, m_Impl->device);
  torch::Tensor logits;
  {
    torchsupport::BFloat16Autocast autocast(this->GetPrecisionInUse() == "bfloat16", m_Impl->device);
    const auto composition =
      this->HasCompositionLevel() ? this->Compositions(indices, n, h, w) : std::vector<double>();
    logits = net->forward(x, NetworkInput(encoded, 0, n, D, m_Impl->device, composition,
                                          m_CompositionCount));
  }
  auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), x);
  adam.zero_grad();
  loss.backward();
  adam.step();
  ++m_NumberOfTrainingSteps;
  m_LatentHeight = h;
  m_LatentWidth = w;

  TrainingStepResult r;
  r.Loss = loss.item<double>();
  r.BitsPerIndex = r.Loss / std::log(2.0);
  return r;
}

std::vector<float>
PixelCNNPriorModel::Logits(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
                           const std::vector<Condition> & conditions) const
{
  this->CheckIndices(indices, n, h, w);
  const auto         encoded = this->EncodeConditions(conditions, n);
  const auto         D = this->GetEncodedConditionLength();
  const size_t       per = static_cast<size_t>(m_Hyperparameters.CodebookSize) * h * w;
  std::vector<float> out(n * per);
  const auto composition = this->HasCompositionLevel() ? this->Compositions(indices, n, h, w) : std::vector<double>();
  torch::NoGradGuard noGrad;
  auto &             net = m_Impl->network;
  net->eval();
  torchsupport::ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto logits = net->forward(IndicesToTensor(indices, first, count, h, w, m_Impl->device),
                               NetworkInput(encoded, first, count, D, m_Impl->device, composition, m_CompositionCount))
                    .to(torch::kCPU, torch::kFloat)
                    .contiguous();
    std::memcpy(out.data() + first * per, logits.data_ptr<float>(), logits.numel() * sizeof(float));
  });
  return out;
}

std::vector<double>
PixelCNNPriorModel::LogLikelihood(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
                                  const std::vector<Condition> & conditions) const
{
  this->CheckIndices(indices, n, h, w);
  const auto          encoded = this->EncodeConditions(conditions, n);
  const auto          D = this->GetEncodedConditionLength();
  std::vector<double> out(n);
  const auto composition = this->HasCompositionLevel() ? this->Compositions(indices, n, h, w) : std::vector<double>();
  torch::NoGradGuard  noGrad;
  auto &              net = m_Impl->network;
  net->eval();
  torchsupport::ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto       x = IndicesToTensor(indices, first, count, h, w, m_Impl->device);
    const auto logits =
      net->forward(x, NetworkInput(encoded, first, count, D, m_Impl->device, composition, m_CompositionCount));
    const auto sums =
      torch::log_softmax(logits.to(torch::kDouble), 1).gather(1, x.unsqueeze(1)).sum({ 1, 2, 3 }).to(torch::kCPU).contiguous();
    std::memcpy(out.data() + first, sums.data_ptr<double>(), count * sizeof(double));
  });
  if (this->HasCompositionLevel())
  {
    // The top level: the log density of each map's standardised compositions u(x) under
    // N(m(c), S(c) R S(c)), S(c) = diag(s(c)).
    const unsigned int L = m_CompositionCount;
    const auto         means = CompositionLines(m_CompositionPriorMean, encoded, n, D, L);
    const auto         logSds = CompositionLines(m_CompositionPriorLogStdDev, encoded, n, D, L);
    const auto         chol = CholeskyLower(m_CompositionCorrelation, L);
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
        r[l] = (composition[il] - means[il]) * std::exp(-logSds[il]);
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
      out[i] += -0.5 * quadratic - logS - logDet - 0.5 * L * std::log(2.0 * 3.141592653589793);
    }
  }
  return out;
}

std::vector<double>
PixelCNNPriorModel::ConditionPosterior(const int32_t * indices, unsigned int h, unsigned int w, const Condition & others,
                                       const std::string & parameter, const std::vector<double> & values) const
{
  const auto spec = std::find_if(m_ConditionSchema.begin(), m_ConditionSchema.end(),
                                 [&](const ConditionSpec & s) { return s.Name == parameter; });
  if (spec == m_ConditionSchema.end() || spec->Categorical)
  {
    itkExceptionMacro(<< "\"" << parameter
                      << "\" is not a continuous process parameter of this prior: the posterior is over one of its "
                         "continuous parameters");
  }
  if (values.empty())
  {
    itkExceptionMacro(<< "the grid of values of \"" << parameter << "\" is empty: give at least one value");
  }
  this->CheckIndices(indices, 1, h, w);
  const unsigned int     G = static_cast<unsigned int>(values.size());
  const size_t           per = static_cast<size_t>(h) * w;
  std::vector<int32_t>   maps(G * per);
  std::vector<Condition> conditions(G, others);
  for (unsigned int g = 0; g < G; ++g)
  {
    std::copy(indices, indices + per, maps.begin() + g * per);
    conditions[g][parameter] = Exact(values[g]);
  }
  return MicrostructurePosterior::Normalise(this->LogLikelihood(maps.data(), G, h, w, conditions));
}

std::vector<int32_t>
PixelCNNPriorModel::Sample(unsigned int n, unsigned int h, unsigned int w, const std::vector<Condition> & conditions,
                           double temperature, uint64_t seed, const std::function<void(double)> & progress) const
{
  this->CheckIndices(nullptr, n, h, w);
  if (!(temperature > 0.0) || !std::isfinite(temperature))
  {
    itkExceptionMacro(<< "temperature must be a finite number > 0 (1 samples the model's distribution), it is "
                      << temperature);
  }
  const auto   encodedMaps = this->EncodeConditions(conditions, n);
  const auto   D = this->GetEncodedConditionLength();
  const size_t per = static_cast<size_t>(h) * w;
  // C candidates per map with the composition level (SetCompositionCandidates): candidate j of map i is
  // row i C + j of everything below.
  const unsigned int C = this->HasCompositionLevel() ? m_CompositionCandidates : 1u;
  const size_t       total = static_cast<size_t>(n) * C;

  // All the randomness, up front: u[candidate][row][column] in [0, 1), 53 bits each, map by map.
  std::vector<double> uniforms(total * per);
  std::mt19937_64     engine(seed);
  for (auto & u : uniforms)
    u = static_cast<double>(engine() >> 11) * (1.0 / 9007199254740992.0);

  // The composition level's u per map, drawn from the top level with an engine of its own, shared by
  // the map's candidates.
  const unsigned int  L = m_CompositionCount;
  std::vector<double> composition;
  if (this->HasCompositionLevel())
  {
    const auto          logSds = CompositionLines(m_CompositionPriorLogStdDev, encodedMaps, n, D, L);
    const auto          chol = CholeskyLower(m_CompositionCorrelation, L);
    std::mt19937_64     compositionEngine(seed ^ 0xbb67ae8584caa73bULL);
    std::vector<double> z(L);
    const auto          means = CompositionLines(m_CompositionPriorMean, encodedMaps, n, D, L);
    composition.resize(total * L);
    for (unsigned int i = 0; i < n; ++i)
    {
      for (auto & v : z)
        v = StandardNormal(compositionEngine);
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
  }
  std::vector<float> encoded(total * D);
  for (size_t r = 0; r < total; ++r)
    std::copy_n(encodedMaps.begin() + (r / C) * D, D, encoded.begin() + r * D);

  std::vector<int32_t> drawn(total * per);
  const bool           naive = (m_Sampler == "naive");
  torchsupport::ForBatches(static_cast<unsigned int>(total), m_InferenceBatchSize, [&](unsigned int first,
                                                                                       unsigned int count) {
    auto maps = torch::zeros({ count, h, w }, torch::kLong);
    auto cond = NetworkInput(encoded, first, count, D, torch::kCPU, composition, L);
    std::function<void(double)> batchProgress;
    if (progress)
      batchProgress = [&](double f) { progress((first + f * count) / static_cast<double>(total)); };
    if (naive)
      pixelcnn::SampleNaive(m_Impl->network, maps, cond, uniforms.data() + first * per, temperature, m_Impl->device,
                            batchProgress);
    else
      pixelcnn::SampleIncremental(m_Impl->network, maps, cond, uniforms.data() + first * per, temperature,
                                  m_Impl->device, batchProgress);
    const int64_t * m = maps.data_ptr<int64_t>();
    std::transform(m, m + count * per, drawn.begin() + first * per, [](int64_t v) { return static_cast<int32_t>(v); });
  });
  if (C == 1)
    return drawn;
  // Of each map's candidates, the one whose own compositions lie nearest the drawn u.
  const auto           own = this->Compositions(drawn.data(), static_cast<unsigned int>(total), h, w);
  std::vector<int32_t> out(static_cast<size_t>(n) * per);
  for (unsigned int i = 0; i < n; ++i)
  {
    size_t best = static_cast<size_t>(i) * C;
    double bestDistance = std::numeric_limits<double>::infinity();
    for (unsigned int j = 0; j < C; ++j)
    {
      const size_t r = static_cast<size_t>(i) * C + j;
      double       d = 0.0;
      for (unsigned int l = 0; l < L; ++l)
        d += (own[r * L + l] - composition[r * L + l]) * (own[r * L + l] - composition[r * L + l]);
      if (d < bestDistance)
        best = r, bestDistance = d;
    }
    std::copy_n(drawn.begin() + best * per, per, out.begin() + static_cast<size_t>(i) * per);
  }
  return out;
}

std::vector<double>
PixelCNNPriorModel::Compositions(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const
{
  if (!this->HasCompositionLevel())
  {
    itkExceptionMacro(<< "this prior has no composition level (SetCompositionLevel)");
  }
  const unsigned int  L = m_CompositionCount;
  const size_t        per = static_cast<size_t>(h) * w;
  std::vector<double> u(static_cast<size_t>(n) * L, 0.0);
  for (unsigned int i = 0; i < n; ++i)
  {
    double * ui = u.data() + static_cast<size_t>(i) * L;
    for (size_t p = 0; p < per; ++p)
    {
      const float * v = m_CompositionValues.data() + static_cast<size_t>(indices[i * per + p]) * L;
      for (unsigned int l = 0; l < L; ++l)
        ui[l] += v[l];
    }
    for (unsigned int l = 0; l < L; ++l)
      ui[l] = (ui[l] / static_cast<double>(per) - m_CompositionMean[l]) / m_CompositionStdDev[l];
  }
  return u;
}

PixelCNNPriorModel::CompositionDistribution
PixelCNNPriorModel::GetCompositionPrior(const Condition & condition) const
{
  if (!this->HasCompositionLevel())
  {
    itkExceptionMacro(<< "this prior has no composition level (SetCompositionLevel)");
  }
  const auto              D = this->GetEncodedConditionLength();
  const auto              c = this->EncodeConditions({ condition }, 1);
  CompositionDistribution d;
  d.Mean = CompositionLines(m_CompositionPriorMean, c, 1, D, m_CompositionCount);
  d.StdDev = CompositionLines(m_CompositionPriorLogStdDev, c, 1, D, m_CompositionCount);
  for (auto & s : d.StdDev)
    s = std::exp(s);
  d.Correlation = m_CompositionCorrelation;
  return d;
}

void
PixelCNNPriorModel::SetCompositionLevel(const std::vector<float> & codeValues, unsigned int count,
                                        const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
                                        const std::vector<Condition> & conditions, double ridge)
{
  const unsigned int K = m_Hyperparameters.CodebookSize, L = count;
  auto               clear = [this]() {
    m_CompositionCount = 0;
    m_CompositionValues.clear();
    m_CompositionMean.clear();
    m_CompositionStdDev.clear();
    m_CompositionPriorMean.clear();
    m_CompositionPriorLogStdDev.clear();
    m_CompositionCorrelation.clear();
  };
  if (L == 0)
  {
    if (!codeValues.empty())
    {
      itkExceptionMacro(<< "a composition level of 0 values takes no code values");
    }
    clear();
  }
  else
  {
    if (L > MaximumCompositionCount || codeValues.size() != static_cast<size_t>(K) * L)
    {
      itkExceptionMacro(<< "the composition level needs " << L << " value(s) per code (1.." << MaximumCompositionCount
                        << ") for " << K << " codes, " << static_cast<size_t>(K) * L << " in all, not "
                        << codeValues.size());
    }
    if (!std::all_of(codeValues.begin(), codeValues.end(), [](float v) { return std::isfinite(v); }))
    {
      itkExceptionMacro(<< "a code value of the composition level is not a finite number");
    }
    if (!(ridge >= 0.0) || !std::isfinite(ridge))
    {
      itkExceptionMacro(<< "the composition level's ridge must be a finite number >= 0, it is " << ridge);
    }
    if (n == 0 || h == 0 || w == 0 || indices == nullptr)
    {
      itkExceptionMacro(<< "the composition level is fitted to the training maps: give at least one map");
    }
    this->CheckIndexRange(indices, static_cast<size_t>(n) * h * w);
    const unsigned int D = this->GetEncodedConditionLength();
    const auto         features = this->EncodeConditions(conditions, n);
    // u per map, and its standardisation over all maps.
    clear();
    m_CompositionCount = L;
    m_CompositionValues = codeValues;
    m_CompositionMean.assign(L, 0.0);
    m_CompositionStdDev.assign(L, 1.0);
    auto u = this->Compositions(indices, n, h, w);
    for (unsigned int l = 0; l < L; ++l)
    {
      std::vector<double> column(n);
      for (unsigned int i = 0; i < n; ++i)
        column[i] = u[static_cast<size_t>(i) * L + l];
      m_CompositionMean[l] = std::accumulate(column.begin(), column.end(), 0.0) / n;
      m_CompositionStdDev[l] = std::sqrt(Variance(column));
      if (!(m_CompositionStdDev[l] > 1e-12))
      {
        clear();
        itkExceptionMacro(<< "the maps' composition value " << l << " does not vary: the composition level has "
                             "nothing to model there; leave it out");
      }
      for (unsigned int i = 0; i < n; ++i)
        u[static_cast<size_t>(i) * L + l] = (column[i] - m_CompositionMean[l]) / m_CompositionStdDev[l];
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
          clear();
          itkExceptionMacro(<< "a condition has " << g.second.size() << " training map(s) whose composition value " << l
                            << " does not vary: the composition level needs at least 2 maps of differing composition "
                               "per condition");
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
      clear();
      itkExceptionMacro(<< "the " << groups.size() << " distinct conditions of the maps do not determine the " << D
                        << " condition slopes of the composition level: give a ridge > 0");
    }
    auto solve = [&](std::vector<double> & b) {
      const auto t = torch::linalg_solve(normal, torch::from_blob(b.data(), { static_cast<int64_t>(L), static_cast<int64_t>(R) },
                                                                  torch::kDouble)
                                                   .t())
                       .t()
                       .to(torch::kFloat)
                       .contiguous();
      return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + L * R);
    };
    m_CompositionPriorMean = solve(bMean);
    m_CompositionPriorLogStdDev = solve(bLogSd);
    for (unsigned int a = 0; a < L; ++a) // unit diagonal
      for (unsigned int b = 0; b < L; ++b)
        if (a != b)
          correlation[a * L + b] /= std::sqrt(correlation[a * L + a] * correlation[b * L + b]);
    for (unsigned int a = 0; a < L; ++a)
      correlation[a * L + a] = 1.0;
    if (CholeskyLower(correlation, L).empty())
    {
      clear();
      itkExceptionMacro(<< "the composition values are perfectly correlated within the conditions: give values that "
                           "tell the maps apart, or fewer");
    }
    m_CompositionCorrelation = correlation;
  }
  m_Impl->network = nullptr; // the network's input changes
  m_Impl->optimizer.Reset();
  this->Modified();
}

namespace
{
const modelfile::Kind &
PriorFileKind()
{
  static const modelfile::Kind kind{ PixelCNNPriorModel::FileMagic, PixelCNNPriorModel::FileFormatVersion,
                                     "prior model file", "PixelCNNPriorModel::Write (MicrostructureTrainPrior)",
                                     "retrain the prior" };
  return kind;
}

} // namespace

void
PixelCNNPriorModel::Write(const std::string & path) const
{
  this->WriteFile(path, false);
}

void
PixelCNNPriorModel::WriteCheckpoint(const std::string & path) const
{
  this->WriteFile(path, true);
}

void
PixelCNNPriorModel::WriteFile(const std::string & path, bool checkpoint) const
{
  if (!this->IsInitialized())
  {
    itkExceptionMacro(<< "nothing to write to " << path << ": call Initialize() or Read(file) first");
  }
  const auto &                                     h = m_Hyperparameters;
  std::vector<std::pair<std::string, std::string>> header = {
    { "kind", "conditional gated PixelCNN prior over VQ-VAE index maps (Noguchi & Inoue, Phys. Rev. E 104, 025302, "
              "2021)" },
    { "codebook_size", std::to_string(h.CodebookSize) },
    { "embedding_dimension", std::to_string(h.EmbeddingDimension) },
    { "hidden_channels", std::to_string(h.HiddenChannels) },
    { "layers", std::to_string(h.NumberOfLayers) },
    { "first_kernel_size", std::to_string(h.FirstKernelSize) },
    { "kernel_size", std::to_string(h.KernelSize) },
    { "output_hidden_channels", std::to_string(h.OutputHiddenChannels) },
    { "dilations", JoinCounts(h.Dilations) },
    { "latent_height", std::to_string(m_LatentHeight) },
    { "latent_width", std::to_string(m_LatentWidth) },
    { "conditions", std::to_string(m_ConditionSchema.size()) }
  };
  for (size_t i = 0; i < m_ConditionSchema.size(); ++i)
  {
    // name,continuous,mean,stddev,minimum,maximum   or   name,categorical,category1,category2,...
    const auto & c = m_ConditionSchema[i];
    std::string  value = EscapeField(c.Name);
    if (c.Categorical)
    {
      value += ",categorical";
      for (const auto & category : c.Categories)
        value += "," + EscapeField(category);
    }
    else
    {
      value += ",continuous," + Exact(c.Mean) + "," + Exact(c.StdDev) + "," + Exact(c.Minimum) + "," + Exact(c.Maximum);
      // Degree 1 without terms (the paper's encoding) keeps the line files had before degrees existed.
      if (c.Degree != 1 || !c.ExponentialTerms.empty())
        value += "," + std::to_string(c.Degree);
      for (const auto & t : c.ExponentialTerms)
        value += ",exp:" + Exact(t.Rate) + ":" + Exact(t.Mean) + ":" + Exact(t.StdDev);
    }
    header.push_back({ "condition_" + std::to_string(i), value });
  }
  if (this->HasCompositionLevel())
  {
    std::string standardisation, correlation;
    for (const auto & v : { m_CompositionMean, m_CompositionStdDev })
      for (const double x : v)
        standardisation += (standardisation.empty() ? "" : ",") + Exact(x);
    for (const double x : m_CompositionCorrelation)
      correlation += (correlation.empty() ? "" : ",") + Exact(x);
    header.push_back({ "composition_count", std::to_string(m_CompositionCount) });
    header.push_back({ "composition_code_values", JoinFloats(m_CompositionValues) });
    header.push_back({ "composition_standardisation", standardisation });
    header.push_back({ "composition_prior_mean", JoinFloats(m_CompositionPriorMean) });
    header.push_back({ "composition_prior_log_sd", JoinFloats(m_CompositionPriorLogStdDev) });
    header.push_back({ "composition_correlation", correlation });
    if (m_Impl->network->options.budgetCount > 0)
      header.push_back({ "composition_budget", "1" }); // absent: off (and files written before it existed)
  }
  if (!m_VQVAEFingerprint.empty())
    header.push_back({ "vqvae_weights_fnv1a64", m_VQVAEFingerprint });
  header.push_back({ "seed", std::to_string(m_Seed) });
  header.push_back({ "training_steps", std::to_string(m_NumberOfTrainingSteps) });
  header.push_back({ "training_summary", m_TrainingSummary });
  std::vector<std::pair<std::string, std::string>> sections = { { "weights",
                                                                  modelfile::SaveModule(*m_Impl->network) } };
  if (checkpoint)
  {
    header.push_back({ "learning_rate", Exact(m_LearningRate) });
    header.push_back({ "trainer_state", m_TrainerState });
    sections.push_back({ "optimizer", m_Impl->optimizer.Save() });
  }
  modelfile::Write(path, PriorFileKind(), header, sections);
}

void
PixelCNNPriorModel::Read(const std::string & path)
{
  const auto c = modelfile::Read(path, PriorFileKind(), { "weights", "optimizer" }, [](const std::string & data) {
    return data.compare(0, 10, "ITKSMVQVAE") == 0 ? std::string("a VQ-VAE model file") : std::string();
  });
  Hyperparameters h;
  h.CodebookSize = c.Count("codebook_size");
  h.EmbeddingDimension = c.Count("embedding_dimension");
  h.HiddenChannels = c.Count("hidden_channels");
  h.NumberOfLayers = c.Count("layers");
  h.FirstKernelSize = c.Count("first_kernel_size");
  h.KernelSize = c.Count("kernel_size");
  h.OutputHiddenChannels = c.Count("output_hidden_channels");
  if (c.Has("dilations")) // absent in files written before dilations existed: all 1
  {
    if (!ParseCounts(c.Get("dilations"), h.Dilations))
      Fail(path + ": header line dilations = \"" + c.Get("dilations") +
           "\" is not a comma-separated list of whole numbers: the file is damaged");
  }
  h.Validate();

  ConditionSchema    schema;
  const unsigned int nConditions = c.Count("conditions");
  for (unsigned int i = 0; i < nConditions; ++i)
  {
    const std::string key = "condition_" + std::to_string(i);
    const auto        fields = SplitFields(c.Get(key));
    ConditionSpec     spec;
    spec.Name = fields[0];
    double numbers[4] = { 0, 0, 0, 0 };
    if (fields.size() >= 3 && fields[1] == "categorical")
    {
      spec.Categorical = true;
      spec.Categories.assign(fields.begin() + 2, fields.end());
    }
    else if (fields.size() >= 6 && fields[1] == "continuous" && ParseDouble(fields[2], numbers[0]) &&
             ParseDouble(fields[3], numbers[1]) && ParseDouble(fields[4], numbers[2]) &&
             ParseDouble(fields[5], numbers[3]) &&
             (fields.size() == 6 || (fields[6].size() == 1 && fields[6][0] >= '1' && fields[6][0] <= '9')) &&
             std::all_of(fields.begin() + std::min<size_t>(fields.size(), 7), fields.end(), [&](const std::string & f) {
               // exp:rate:mean:sd, one per exponential term
               const auto parts = SplitOn(f, ':');
               ExponentialTerm t;
               if (parts.size() == 5 && parts[4] == "calibration")
                 Fail(path + ": header line " + key + " has an exponential term for the calibrations only (" + f +
                      "), which were removed in session 22: retrain this prior");
               if (parts.size() != 4 || parts[0] != "exp" || !ParseDouble(parts[1], t.Rate) ||
                   !ParseDouble(parts[2], t.Mean) || !ParseDouble(parts[3], t.StdDev))
                 return false;
               spec.ExponentialTerms.push_back(t);
               return true;
             }))
    {
      spec.Mean = numbers[0];
      spec.StdDev = numbers[1];
      spec.Minimum = numbers[2];
      spec.Maximum = numbers[3];
      spec.Degree = fields.size() >= 7 ? static_cast<unsigned int>(fields[6][0] - '0') : 1u; // validated below
    }
    else
    {
      Fail(path + ": header line " + key + " is not 'name,continuous,mean,stddev,min,max[,degree[,exp:rate:mean:sd,..]]' or "
                                          "'name,categorical,category,...': the file is damaged");
    }
    schema.push_back(spec);
  }
  try
  {
    ValidateSchema(schema);
  }
  catch (const ExceptionObject & e)
  {
    Fail(path + ": the condition schema in the header is invalid (" + e.GetDescription() + "): the file is damaged");
  }
  const uint64_t     seed = c.Unsigned64("seed");
  const unsigned int latentHeight = c.Count("latent_height");
  const unsigned int latentWidth = c.Count("latent_width");
  const auto         steps = static_cast<unsigned long>(c.Unsigned64("training_steps"));
  const bool         isCheckpoint = c.Sections.count("optimizer") > 0;
  const size_t       encodedLength = EncodedLength(schema);
  // The post-hoc calibrations were removed (session 22): they fitted the scored statistics at the training
  // conditions and did not earn their place by cross-validation (docs/cross_validation.md).
  for (const char * removed : { "temperature_calibration", "marginal_calibration", "variation_direction",
                                "variation_calibration" })
    if (c.Has(removed) && !c.Get(removed).empty())
      Fail(path + ": this prior carries a post-hoc calibration (header line " + removed +
           ") that this version no longer has, and its network was trained to be used with it: retrain the prior "
           "(MicrostructureTrainPrior)");
  auto readValues = [&](const std::string & key, size_t expected, const std::string & shape) {
    std::vector<float> values;
    if (!c.Has(key))
      return values;
    double value = 0.0;
    for (const auto & f : SplitFields(c.Get(key)))
    {
      if (!ParseDouble(f, value) || !std::isfinite(value))
        Fail(path + ": header line " + key + " holds \"" + f.substr(0, 20) +
             "\", not a finite number: the file is damaged");
      values.push_back(static_cast<float>(value));
    }
    if (values.size() != expected)
      Fail(path + ": header line " + key + " has " + std::to_string(values.size()) + " values, not " +
           std::to_string(expected) + " (" + shape + "): the file is damaged");
    return values;
  };
  // The composition level: absent = none (the paper's prior, and files written before it existed).
  const unsigned int  compositionCount = c.Has("composition_count") ? c.Count("composition_count") : 0u;
  std::vector<float>  compositionValues, compositionPriorMean, compositionPriorLogSd;
  std::vector<double> compositionStandardisation, compositionCorrelation; // in double, as written
  if (compositionCount > MaximumCompositionCount)
    Fail(path + ": header line composition_count = " + std::to_string(compositionCount) + " is more than " +
         std::to_string(MaximumCompositionCount) + ": the file is damaged");
  if (compositionCount > 0)
  {
    const size_t L = compositionCount;
    auto         doubles = [&](const std::string & key, size_t expected) {
      std::vector<double> values;
      if (c.Has(key))
        for (const auto & f : SplitFields(c.Get(key)))
        {
          double v = 0.0;
          if (ParseDouble(f, v) && std::isfinite(v))
            values.push_back(v);
        }
      return values.size() == expected ? values : std::vector<double>();
    };
    compositionValues = readValues("composition_code_values", h.CodebookSize * L, "codebook size x composition count");
    compositionStandardisation = doubles("composition_standardisation", 2 * L);
    compositionCorrelation = doubles("composition_correlation", L * L);
    compositionPriorMean = readValues("composition_prior_mean", L * (1 + encodedLength),
                                      "composition count x (1 + encoded condition length)");
    compositionPriorLogSd = readValues("composition_prior_log_sd", L * (1 + encodedLength),
                                       "composition count x (1 + encoded condition length)");
    bool positive = !compositionStandardisation.empty();
    for (size_t l = 0; positive && l < L; ++l)
      positive = compositionStandardisation[L + l] > 0.0;
    if (compositionValues.empty() || !positive || compositionPriorMean.empty() || compositionPriorLogSd.empty() ||
        CholeskyLower(compositionCorrelation, compositionCount).empty())
      Fail(path + ": the header's composition level (composition_code_values, composition_standardisation with sds "
                  "> 0, composition_prior_mean, composition_prior_log_sd, a positive definite "
                  "composition_correlation) is incomplete or damaged: the file is damaged");
  }

  const bool budget = c.Has("composition_budget");
  if (budget && (c.Get("composition_budget") != "1" || compositionCount == 0))
    Fail(path + ": header line composition_budget must be 1 and comes with a composition level: the file is damaged");

  torchsupport::SetTorchThreads();
  const auto        middle = compositionStandardisation.begin() + compositionCount; // means, then sds
  pixelcnn::Network network =
    BudgetedNetwork(ToOptions(h, static_cast<unsigned int>(encodedLength) + compositionCount, budget ? compositionCount : 0),
                    compositionValues, std::vector<double>(compositionStandardisation.begin(), middle),
                    std::vector<double>(middle, compositionStandardisation.end()));
  modelfile::LoadModule(*network, c.Section("weights"), m_Impl->device, path);
  network->to(m_Impl->device);

  // Everything read: commit.
  m_Hyperparameters = h;
  m_ConditionSchema = schema;
  m_LatentHeight = latentHeight;
  m_LatentWidth = latentWidth;
  m_NumberOfTrainingSteps = steps;
  m_TrainingSummary = c.Get("training_summary");
  m_Seed = seed;
  m_Impl->network = network;
  m_CompositionCount = compositionCount;
  m_CompositionValues = compositionValues;
  m_CompositionMean.assign(compositionStandardisation.begin(), compositionStandardisation.begin() + compositionCount);
  m_CompositionStdDev.assign(compositionStandardisation.begin() + compositionCount, compositionStandardisation.end());
  m_CompositionPriorMean = compositionPriorMean;
  m_CompositionPriorLogStdDev = compositionPriorLogSd;
  m_CompositionCorrelation = compositionCorrelation;
  m_CompositionBudget = budget;
  m_Impl->optimizer.SetPending(isCheckpoint ? c.Section("optimizer") : std::string());
  m_HasTrainingState = isCheckpoint;
  m_TrainerState = isCheckpoint ? c.Get("trainer_state") : std::string();
  m_VQVAEFingerprint = c.Has("vqvae_weights_fnv1a64") ? c.Get("vqvae_weights_fnv1a64") : std::string();
  this->Modified();
}

void
PixelCNNPriorModel::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  const auto & h = m_Hyperparameters;
  os << indent << "CodebookSize (K): " << h.CodebookSize << '\n'
     << indent << "EmbeddingDimension: " << h.EmbeddingDimension << '\n'
     << indent << "HiddenChannels: " << h.HiddenChannels << '\n'
     << indent << "NumberOfLayers: " << h.NumberOfLayers << '\n'
     << indent << "FirstKernelSize: " << h.FirstKernelSize << '\n'
     << indent << "KernelSize: " << h.KernelSize << '\n'
     << indent << "Dilations: " << (h.Dilations.empty() ? std::string("none") : JoinCounts(h.Dilations)) << '\n'
     << indent << "OutputHiddenChannels: " << h.OutputHiddenChannels << '\n'
     << indent << "Conditions:";
  if (m_ConditionSchema.empty())
    os << " none (unconditional)";
  os << '\n';
  for (const auto & s : m_ConditionSchema)
  {
    os << indent.GetNextIndent() << s.Name << ": ";
    if (s.Categorical)
    {
      os << "categorical {";
      for (size_t i = 0; i < s.Categories.size(); ++i)
        os << (i ? ", " : "") << s.Categories[i];
      os << "}\n";
    }
    else
    {
      os << "continuous, mean " << s.Mean << ", sd " << s.StdDev << ", trained on " << s.Minimum << " .. "
         << s.Maximum << ", degree " << s.Degree;
      for (const auto & t : s.ExponentialTerms)
        os << ", exp(" << t.Rate << " x) (mean " << t.Mean << ", sd " << t.StdDev << ")";
      os << '\n';
    }
  }
  os << indent << "Seed: " << m_Seed << '\n'
     << indent << "Device: " << m_Device << " (in use: " << this->GetDeviceInUse() << ")\n"
     << indent << "Precision: " << m_Precision << " (in use: " << this->GetPrecisionInUse() << ")\n"
     << indent << "LearningRate: " << m_LearningRate << '\n'
     << indent << "InferenceBatchSize: " << m_InferenceBatchSize << '\n'
     << indent << "Sampler: " << m_Sampler << '\n'
     << indent << "CompositionCandidates: " << m_CompositionCandidates << '\n'
     << indent << "CompositionBudget: " << (m_CompositionBudget ? "on" : "off") << '\n'
     << indent << "LatentSize: " << m_LatentHeight << " x " << m_LatentWidth << '\n'
     << indent << "NumberOfTrainingSteps: " << m_NumberOfTrainingSteps << '\n'
     << indent << "CompositionLevel: "
     << (this->HasCompositionLevel() ? std::to_string(m_CompositionCount) + " value(s) per map"
                                     : std::string("none"))
     << '\n'
     << indent << "Initialized: " << (this->IsInitialized() ? "yes" : "no") << '\n'
     << indent << "TrainingSummary: " << m_TrainingSummary << '\n';
}

} // end namespace itk
