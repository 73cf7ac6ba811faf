/*=========================================================================
 * itk::PixelCNNPriorModel: the public, torch-free face of the conditional
 * gated PixelCNN (itkPixelCNNNetwork.h): conditions, training step,
 * likelihood, samplers and the model file.
 *=========================================================================*/
#include "itkPixelCNNPriorModel.h"
#include "itkPixelCNNNetwork.h"
#include "itkMicrostructureIO.h"
#include "itkMultiThreaderBase.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>

namespace itk
{

struct PixelCNNPriorModel::Impl
{
  pixelcnn::Network                   network{ nullptr };
  std::unique_ptr<torch::optim::Adam> optimizer;
  torch::Device                       device{ torch::kCPU };
};

namespace
{

[[noreturn]] void
Fail(const std::string & message)
{
  ExceptionObject e(__FILE__, __LINE__, "PixelCNNPriorModel: " + message, ITK_LOCATION);
  throw e;
}

/** Backslash-escapes '\\', ',', newlines: a field of a comma-separated header value. */
std::string
EscapeField(const std::string & text)
{
  std::string out;
  for (const char c : text)
  {
    if (c == '\\')
      out += "\\\\";
    else if (c == ',')
      out += "\\,";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out;
}

/** Splits at unescaped commas and unescapes each field. */
std::vector<std::string>
SplitFields(const std::string & text)
{
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < text.size(); ++i)
  {
    if (text[i] == '\\' && i + 1 < text.size())
    {
      const char n = text[++i];
      fields.back() += (n == 'n') ? '\n' : (n == 'r') ? '\r' : n;
    }
    else if (text[i] == ',')
    {
      fields.emplace_back();
    }
    else
    {
      fields.back() += text[i];
    }
  }
  return fields;
}

uint64_t
FNV1a64(const char * data, size_t size)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i)
  {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

std::string
Trim(const std::string & s)
{
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/** Parses a whole string as a double; false when it is not a number. */
bool
ParseDouble(const std::string & text, double & value)
{
  const std::string t = Trim(text);
  if (t.empty())
    return false;
  try
  {
    size_t used = 0;
    value = std::stod(t, &used);
    return used == t.size();
  }
  catch (const std::exception &)
  {
    return false;
  }
}

std::string
FormatDouble(double v)
{
  std::ostringstream s;
  s << std::setprecision(17) << v;
  return s.str();
}

pixelcnn::NetworkOptions
ToOptions(const PixelCNNPriorModel::Hyperparameters & h, unsigned int conditionLength)
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
  return o;
}

torch::Device
ResolveDevice(const std::string & name, std::string & warning)
{
  if (name == "cpu")
  {
    return torch::kCPU;
  }
  if (name == "auto")
  {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (name.rfind("cuda", 0) == 0)
  {
    const std::string rest = name.substr(4);
    int               index = 0;
    bool              ok = rest.empty();
    if (!ok && rest[0] == ':' && rest.size() > 1 && rest.size() < 6 &&
        rest.find_first_not_of("0123456789", 1) == std::string::npos)
    {
      index = std::stoi(rest.substr(1));
      ok = true;
    }
    if (ok)
    {
      if (!torch::cuda::is_available())
      {
        warning = "device " + name + " asked for, but this LibTorch has no CUDA device available: using the CPU";
        return torch::kCPU;
      }
      if (index >= static_cast<int>(torch::cuda::device_count()))
      {
        warning = "device " + name + " asked for, but only " + std::to_string(torch::cuda::device_count()) +
                  " CUDA device(s) are present: using the CPU";
        return torch::kCPU;
      }
      return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
  }
  throw std::invalid_argument("unknown device \"" + name + "\": use auto, cpu or cuda:N (for example cuda:0)");
}

void
SetTorchThreads()
{
  torch::set_num_threads(static_cast<int>(MultiThreaderBase::GetGlobalDefaultNumberOfThreads()));
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
             FormatDouble(s.StdDev) + ")");
      if (!(s.Minimum <= s.Maximum) || !std::isfinite(s.Minimum) || !std::isfinite(s.Maximum))
        Fail("the continuous parameter \"" + s.Name + "\" needs a finite Minimum <= Maximum (the range it was trained on)");
    }
  }
}

// Runs fn(first, count) over batches of at most `batch` maps.
template <typename F>
void
ForBatches(unsigned int n, unsigned int batch, F && fn)
{
  batch = std::max(1u, batch);
  for (unsigned int first = 0; first < n; first += batch)
  {
    fn(first, std::min(batch, n - first));
  }
}

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
}


PixelCNNPriorModel::ConditionSpec
PixelCNNPriorModel::LearnContinuousCondition(const std::string & name, const std::vector<double> & values)
{
  if (values.empty())
    Fail("cannot learn the parameter \"" + name + "\" from an empty column");
  double sum = 0.0;
  ConditionSpec s;
  s.Name = name;
  s.Minimum = values[0];
  s.Maximum = values[0];
  for (size_t i = 0; i < values.size(); ++i)
  {
    if (!std::isfinite(values[i]))
      Fail("value " + std::to_string(i) + " of the parameter \"" + name + "\" is " + FormatDouble(values[i]) +
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
PixelCNNPriorModel::LearnCondition(const std::string & name, const std::vector<std::string> & values, bool categorical)
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
  return LearnContinuousCondition(name, numbers);
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
PixelCNNPriorModel::SetConditionSchema(const ConditionSchema & schema)
{
  ValidateSchema(schema);
  m_ConditionSchema = schema;
  m_Impl->network = nullptr;
  m_Impl->optimizer.reset();
  this->Modified();
}

unsigned int
PixelCNNPriorModel::GetEncodedConditionLength() const
{
  unsigned int n = 0;
  for (const auto & s : m_ConditionSchema)
    n += s.Categorical ? static_cast<unsigned int>(s.Categories.size()) : 1u;
  return n;
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
          outside.insert(s.Name + " = " + Trim(it->second) + " (trained on " + FormatDouble(s.Minimum) + " .. " +
                         FormatDouble(s.Maximum) + ")");
        *o++ = static_cast<float>((v - s.Mean) / s.StdDev);
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
  std::string   warning;
  torch::Device resolved{ torch::kCPU };
  try
  {
    resolved = ResolveDevice(device, warning);
  }
  catch (const std::invalid_argument & e)
  {
    itkExceptionMacro(<< e.what());
  }
  if (!warning.empty())
  {
    itkWarningMacro(<< warning);
  }
  m_Device = device;
  m_Impl->device = resolved;
  if (this->IsInitialized())
  {
    m_Impl->network->to(resolved);
    m_Impl->optimizer.reset();
  }
  this->Modified();
}

std::string
PixelCNNPriorModel::GetDeviceInUse() const
{
  return m_Impl->device.str();
}

void
PixelCNNPriorModel::SetLearningRate(double rate)
{
  if (!(rate > 0.0) || !std::isfinite(rate))
  {
    itkExceptionMacro(<< "learning rate must be a finite number > 0, it is " << rate);
  }
  m_LearningRate = rate;
  if (m_Impl->optimizer)
  {
    for (auto & group : m_Impl->optimizer->param_groups())
    {
      static_cast<torch::optim::AdamOptions &>(group.options()).lr(rate);
    }
  }
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
  SetTorchThreads();
  torch::manual_seed(m_Seed);
  m_Impl->network = pixelcnn::Network(ToOptions(m_Hyperparameters, this->GetEncodedConditionLength()));
  m_Impl->network->to(m_Impl->device);
  m_Impl->optimizer.reset();
  m_NumberOfTrainingSteps = 0;
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
  if (indices == nullptr)
  {
    return;
  }
  const int64_t K = m_Hyperparameters.CodebookSize;
  const size_t  total = static_cast<size_t>(n) * h * w;
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
    .to(device)
    .clone();
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
  if (!m_Impl->optimizer)
  {
    m_Impl->optimizer =
      std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(m_LearningRate));
  }
  net->train();
  auto x = IndicesToTensor(indices, 0, n, h, w, m_Impl->device);
  auto logits = net->forward(x, ConditionsToTensor(encoded, 0, n, D, m_Impl->device));
  auto loss = torch::nn::functional::cross_entropy(logits, x);
  m_Impl->optimizer->zero_grad();
  loss.backward();
  m_Impl->optimizer->step();
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
  torch::NoGradGuard noGrad;
  auto &             net = m_Impl->network;
  net->eval();
  ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto logits = net->forward(IndicesToTensor(indices, first, count, h, w, m_Impl->device),
                               ConditionsToTensor(encoded, first, count, D, m_Impl->device))
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
  torch::NoGradGuard  noGrad;
  auto &              net = m_Impl->network;
  net->eval();
  ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto x = IndicesToTensor(indices, first, count, h, w, m_Impl->device);
    auto logits = net->forward(x, ConditionsToTensor(encoded, first, count, D, m_Impl->device));
    auto logp = torch::log_softmax(logits.to(torch::kDouble), 1).gather(1, x.unsqueeze(1)).squeeze(1);
    auto sums = logp.sum({ 1, 2 }).to(torch::kCPU).contiguous();
    std::memcpy(out.data() + first, sums.data_ptr<double>(), count * sizeof(double));
  });
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
    conditions[g][parameter] = FormatDouble(values[g]);
  }
  auto         logL = this->LogLikelihood(maps.data(), G, h, w, conditions);
  const double m = *std::max_element(logL.begin(), logL.end());
  double       sum = 0.0;
  for (auto & v : logL)
  {
    v = std::exp(v - m);
    sum += v;
  }
  for (auto & v : logL)
    v /= sum;
  return logL;
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
  const auto   encoded = this->EncodeConditions(conditions, n);
  const auto   D = this->GetEncodedConditionLength();
  const size_t per = static_cast<size_t>(h) * w;

  // All the randomness, up front: u[map][row][column] in [0, 1), 53 bits each.
  std::vector<double> uniforms(n * per);
  std::mt19937_64     engine(seed);
  for (auto & u : uniforms)
    u = static_cast<double>(engine() >> 11) * (1.0 / 9007199254740992.0);

  std::vector<int32_t> out(n * per);
  const bool           naive = (m_Sampler == "naive");
  ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto maps = torch::zeros({ count, h, w }, torch::kLong);
    auto cond = ConditionsToTensor(encoded, first, count, D, torch::kCPU);
    std::function<void(double)> batchProgress;
    if (progress)
      batchProgress = [&](double f) { progress((first + f * count) / n); };
    if (naive)
      pixelcnn::SampleNaive(m_Impl->network, maps, cond, uniforms.data() + first * per, temperature, m_Impl->device,
                            batchProgress);
    else
      pixelcnn::SampleIncremental(m_Impl->network, maps, cond, uniforms.data() + first * per, temperature,
                                  m_Impl->device, batchProgress);
    const int64_t * m = maps.data_ptr<int64_t>();
    std::transform(m, m + count * per, out.begin() + first * per, [](int64_t v) { return static_cast<int32_t>(v); });
  });
  return out;
}

void
PixelCNNPriorModel::Write(const std::string & path) const
{
  if (!this->IsInitialized())
  {
    itkExceptionMacro(<< "nothing to write to " << path << ": call Initialize() or Read(file) first");
  }
  std::ostringstream weights;
  {
    torch::serialize::OutputArchive archive;
    m_Impl->network->save(archive);
    archive.save_to(weights);
  }
  const std::string w = weights.str();
  const auto &      h = m_Hyperparameters;

  std::ostringstream header;
  header << std::setprecision(17);
  header << FileMagic << ' ' << FileFormatVersion << '\n'
         << "kind = conditional gated PixelCNN prior over VQ-VAE index maps (Noguchi & Inoue, Phys. Rev. E 104, "
            "025302, 2021)\n"
         << "codebook_size = " << h.CodebookSize << '\n'
         << "embedding_dimension = " << h.EmbeddingDimension << '\n'
         << "hidden_channels = " << h.HiddenChannels << '\n'
         << "layers = " << h.NumberOfLayers << '\n'
         << "first_kernel_size = " << h.FirstKernelSize << '\n'
         << "kernel_size = " << h.KernelSize << '\n'
         << "output_hidden_channels = " << h.OutputHiddenChannels << '\n'
         << "latent_height = " << m_LatentHeight << '\n'
         << "latent_width = " << m_LatentWidth << '\n'
         << "conditions = " << m_ConditionSchema.size() << '\n';
  for (size_t i = 0; i < m_ConditionSchema.size(); ++i)
  {
    // name,continuous,mean,stddev,minimum,maximum   or   name,categorical,category1,category2,...
    const auto & s = m_ConditionSchema[i];
    header << "condition_" << i << " = " << EscapeField(s.Name);
    if (s.Categorical)
    {
      header << ",categorical";
      for (const auto & c : s.Categories)
        header << ',' << EscapeField(c);
    }
    else
    {
      header << ",continuous," << s.Mean << ',' << s.StdDev << ',' << s.Minimum << ',' << s.Maximum;
    }
    header << '\n';
  }
  header << "seed = " << m_Seed << '\n'
         << "training_steps = " << m_NumberOfTrainingSteps << '\n'
         << "training_summary = " << EscapeField(m_TrainingSummary) << '\n'
         << "weights_bytes = " << w.size() << '\n'
         << "weights_fnv1a64 = " << std::hex << FNV1a64(w.data(), w.size()) << std::dec << '\n'
         << "end_header\n";

  CheckOutputPathWritable(path);
  AtomicOutputFile out(path);
  {
    std::ofstream f(out.GetTemporaryPath(), std::ios::binary);
    f << header.str();
    f.write(w.data(), static_cast<std::streamsize>(w.size()));
    f.close();
    if (!f)
    {
      itkExceptionMacro(<< "could not write the prior model file " << path << " (disk full or no permission?)");
    }
  }
  out.Commit();
}

void
PixelCNNPriorModel::Read(const std::string & path)
{
  std::ifstream f(path, std::ios::binary);
  if (!f)
  {
    itkExceptionMacro(<< "cannot open the prior model file " << path << ": check the path and its permissions");
  }
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string magic = FileMagic;
  if (data.compare(0, magic.size(), magic) != 0)
  {
    const bool vqvae = data.compare(0, 10, "ITKSMVQVAE") == 0;
    itkExceptionMacro(<< path << " is not a prior model file of ITKStochasticMicrostructure (it does not begin with "
                      << magic << (vqvae ? "; it is a VQ-VAE model file" : "")
                      << "): give a file written by PixelCNNPriorModel::Write (MicrostructureTrainPrior)");
  }
  std::map<std::string, std::string> keys;
  size_t                             pos = 0;
  bool                               first = true, ended = false;
  while (pos < data.size())
  {
    const size_t eol = data.find('\n', pos);
    if (eol == std::string::npos)
      break;
    const std::string line = data.substr(pos, eol - pos);
    pos = eol + 1;
    if (first)
    {
      first = false;
      std::istringstream s(line.substr(magic.size()));
      unsigned int       version = 0;
      std::string        rest;
      if (line.size() <= magic.size() || line[magic.size()] != ' ' || !(s >> version) || (s >> rest))
      {
        itkExceptionMacro(<< path << ": the first line \"" << line.substr(0, 40)
                          << "\" has no format version: the file is damaged (or is not a prior model file)");
      }
      if (version != FileFormatVersion)
      {
        itkExceptionMacro(<< path << " is a prior model file of format version " << version
                          << ", which this build cannot read (it reads version " << FileFormatVersion
                          << "): use the ITKStochasticMicrostructure version that wrote it, or retrain the prior");
      }
      continue;
    }
    if (line == "end_header")
    {
      ended = true;
      break;
    }
    const size_t eq = line.find(" = ");
    if (eq == std::string::npos)
    {
      itkExceptionMacro(<< path << ": header line \"" << line.substr(0, 60)
                        << "\" is not 'key = value': the file is damaged");
    }
    keys[line.substr(0, eq)] = line.substr(eq + 3);
  }
  if (!ended)
  {
    itkExceptionMacro(<< path << ": the header has no end_header line: the file is truncated or damaged");
  }
  auto get = [&](const std::string & key) -> const std::string & {
    const auto it = keys.find(key);
    if (it == keys.end())
      Fail(path + ": the header lacks \"" + key + "\": the file is damaged or was not written by PixelCNNPriorModel");
    return it->second;
  };
  auto number = [&](const std::string & key, const std::string & text) -> double {
    double d = 0.0;
    if (!ParseDouble(text, d))
      Fail(path + ": header value " + key + " = \"" + text + "\" is not a number: the file is damaged");
    return d;
  };
  auto count = [&](const std::string & key) -> unsigned int {
    const double d = number(key, get(key));
    if (d < 0 || d != std::floor(d) || d > 1e9)
      Fail(path + ": header value " + key + " is not a count: the file is damaged");
    return static_cast<unsigned int>(d);
  };

  Hyperparameters h;
  h.CodebookSize = count("codebook_size");
  h.EmbeddingDimension = count("embedding_dimension");
  h.HiddenChannels = count("hidden_channels");
  h.NumberOfLayers = count("layers");
  h.FirstKernelSize = count("first_kernel_size");
  h.KernelSize = count("kernel_size");
  h.OutputHiddenChannels = count("output_hidden_channels");
  h.Validate();

  ConditionSchema    schema;
  const unsigned int nConditions = count("conditions");
  for (unsigned int i = 0; i < nConditions; ++i)
  {
    const std::string key = "condition_" + std::to_string(i);
    const auto        fields = SplitFields(get(key));
    ConditionSpec     s;
    s.Name = fields[0];
    if (fields.size() >= 3 && fields[1] == "categorical")
    {
      s.Categorical = true;
      s.Categories.assign(fields.begin() + 2, fields.end());
    }
    else if (fields.size() == 6 && fields[1] == "continuous")
    {
      s.Mean = number(key, fields[2]);
      s.StdDev = number(key, fields[3]);
      s.Minimum = number(key, fields[4]);
      s.Maximum = number(key, fields[5]);
    }
    else
    {
      Fail(path + ": header line " + key + " is not 'name,continuous,mean,stddev,min,max' or "
                                          "'name,categorical,category,...': the file is damaged");
    }
    schema.push_back(s);
  }
  try
  {
    ValidateSchema(schema);
  }
  catch (const ExceptionObject & e)
  {
    Fail(path + ": the condition schema in the header is invalid (" + e.GetDescription() + "): the file is damaged");
  }

  const size_t expected = static_cast<size_t>(number("weights_bytes", get("weights_bytes")));
  const size_t present = data.size() - pos;
  if (present != expected)
  {
    itkExceptionMacro(<< path << " holds " << present << " bytes of weights where its header announces " << expected
                      << ": the file is truncated or damaged; write it again");
  }
  std::ostringstream checksum;
  checksum << std::hex << FNV1a64(data.data() + pos, present);
  if (checksum.str() != get("weights_fnv1a64"))
  {
    itkExceptionMacro(<< path << ": the weights' checksum does not match the header: the file is damaged; write it again");
  }
  uint64_t seed = 0;
  try
  {
    seed = static_cast<uint64_t>(std::stoull(get("seed")));
  }
  catch (const std::logic_error &)
  {
    itkExceptionMacro(<< path << ": header value seed is not an integer: the file is damaged");
  }
  const unsigned int latentHeight = count("latent_height");
  const unsigned int latentWidth = count("latent_width");
  const auto         steps = static_cast<unsigned long>(number("training_steps", get("training_steps")));
  const auto         summary = SplitFields(get("training_summary"));

  SetTorchThreads();
  unsigned int conditionLength = 0;
  for (const auto & s : schema)
    conditionLength += s.Categorical ? static_cast<unsigned int>(s.Categories.size()) : 1u;
  pixelcnn::Network network(ToOptions(h, conditionLength));
  try
  {
    std::istringstream             weights(data.substr(pos));
    torch::serialize::InputArchive archive;
    archive.load_from(weights, m_Impl->device);
    network->load(archive);
  }
  catch (const c10::Error & e)
  {
    itkExceptionMacro(<< path << ": the weights do not match the header's architecture or are damaged ("
                      << e.what_without_backtrace() << ")");
  }
  network->to(m_Impl->device);

  // Everything read: commit.
  m_Hyperparameters = h;
  m_ConditionSchema = schema;
  m_LatentHeight = latentHeight;
  m_LatentWidth = latentWidth;
  m_NumberOfTrainingSteps = steps;
  m_TrainingSummary.clear(); // written with its commas escaped: one field
  for (size_t i = 0; i < summary.size(); ++i)
    m_TrainingSummary += (i ? "," : "") + summary[i];
  m_Seed = seed;
  m_Impl->network = network;
  m_Impl->optimizer.reset();
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
         << s.Maximum << '\n';
    }
  }
  os << indent << "Seed: " << m_Seed << '\n'
     << indent << "Device: " << m_Device << " (in use: " << this->GetDeviceInUse() << ")\n"
     << indent << "LearningRate: " << m_LearningRate << '\n'
     << indent << "InferenceBatchSize: " << m_InferenceBatchSize << '\n'
     << indent << "Sampler: " << m_Sampler << '\n'
     << indent << "LatentSize: " << m_LatentHeight << " x " << m_LatentWidth << '\n'
     << indent << "NumberOfTrainingSteps: " << m_NumberOfTrainingSteps << '\n'
     << indent << "Initialized: " << (this->IsInitialized() ? "yes" : "no") << '\n'
     << indent << "TrainingSummary: " << m_TrainingSummary << '\n';
}

} // end namespace itk
