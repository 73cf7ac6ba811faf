/*=========================================================================
 * itk::VQVAEModel: the public, torch-free face of the VQ-VAE network
 * (itkVQVAENetwork.h), its training step and its model file.
 *=========================================================================*/
#include "itkVQVAEModel.h"
#include "itkVQVAENetwork.h"
#include "itkMicrostructureIO.h"
#include "itkMultiThreaderBase.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

namespace itk
{

struct VQVAEModel::Impl
{
  vqvae::Network                       network{ nullptr };
  std::unique_ptr<torch::optim::Adam>  optimizer;
  torch::Device                        device{ torch::kCPU };
  torch::Generator                     generator{ at::detail::createCPUGenerator(0) };
  /** Adam's state read from a checkpoint (or saved across a device change), loaded
   * into the optimizer when TrainStep creates it. */
  std::string                          pendingOptimizerState;

  std::string
  SaveOptimizerState() const
  {
    if (!optimizer)
    {
      return pendingOptimizerState;
    }
    std::ostringstream              stream;
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    archive.save_to(stream);
    return stream.str();
  }
};

namespace
{

std::string
Join(const std::vector<unsigned int> & v)
{
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i)
  {
    s << (i ? "," : "") << v[i];
  }
  return s.str();
}

std::string
Escape(const std::string & text)
{
  std::string out;
  for (const char c : text)
  {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out;
}

std::string
Unescape(const std::string & text)
{
  std::string out;
  for (size_t i = 0; i < text.size(); ++i)
  {
    if (text[i] == '\\' && i + 1 < text.size())
    {
      const char n = text[++i];
      out += (n == 'n') ? '\n' : (n == 'r') ? '\r' : n;
    }
    else
    {
      out += text[i];
    }
  }
  return out;
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

vqvae::NetworkOptions
ToOptions(const VQVAEModel::Hyperparameters & h)
{
  vqvae::NetworkOptions o;
  o.inputChannels = h.InputChannels;
  o.encoderChannels.assign(h.EncoderChannels.begin(), h.EncoderChannels.end());
  o.residualBlocks = h.NumberOfResidualBlocks;
  o.codebookSize = h.CodebookSize;
  o.codeDimension = h.CodeDimension;
  o.commitmentCost = h.CommitmentCost;
  o.ema = (h.CodebookUpdate == "ema");
  o.emaDecay = h.EMADecay;
  o.deadCodeThreshold = h.DeadCodeThreshold;
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
  int index = 0;
  if (name.rfind("cuda", 0) == 0)
  {
    const std::string rest = name.substr(4);
    bool              ok = rest.empty();
    if (!ok && rest[0] == ':' && rest.size() > 1 && rest.find_first_not_of("0123456789", 1) == std::string::npos)
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

} // namespace


void
VQVAEModel::Hyperparameters::Validate() const
{
  auto fail = [](const std::string & what) {
    ExceptionObject e(__FILE__, __LINE__, "VQVAEModel: invalid hyperparameters: " + what, ITK_LOCATION);
    throw e;
  };
  if (InputChannels < 1)
    fail("InputChannels must be at least 1");
  if (EncoderChannels.empty() || EncoderChannels.size() > 8)
    fail("EncoderChannels must have 1 to 8 entries (one per stride-2 downsampling), it has " +
         std::to_string(EncoderChannels.size()));
  for (const auto c : EncoderChannels)
    if (c < 1)
      fail("every entry of EncoderChannels must be at least 1");
  if (CodebookSize < 2)
    fail("CodebookSize (K) must be at least 2, it is " + std::to_string(CodebookSize));
  if (CodeDimension < 1)
    fail("CodeDimension (D) must be at least 1");
  if (!(CommitmentCost >= 0.0))
    fail("CommitmentCost (beta) must be >= 0");
  if (CodebookUpdate != "loss" && CodebookUpdate != "ema")
    fail("CodebookUpdate is \"" + CodebookUpdate + "\": use \"loss\" (codebook loss, as in the paper) or \"ema\"");
  if (!(EMADecay > 0.0 && EMADecay < 1.0))
    fail("EMADecay must lie in (0, 1), it is " + std::to_string(EMADecay));
  if (!(DeadCodeThreshold >= 0.0))
    fail("DeadCodeThreshold must be >= 0");
}


VQVAEModel::VQVAEModel()
  : m_Impl(std::make_unique<Impl>())
{}

VQVAEModel::~VQVAEModel() = default;

void
VQVAEModel::SetHyperparameters(const Hyperparameters & h)
{
  h.Validate();
  m_Hyperparameters = h;
  this->Modified();
}

bool
VQVAEModel::IsInitialized() const
{
  return !m_Impl->network.is_empty();
}

void
VQVAEModel::SetDevice(const std::string & device)
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
    m_Impl->pendingOptimizerState = m_Impl->SaveOptimizerState(); // Adam's moments follow to the new device
    m_Impl->network->to(resolved);
    m_Impl->optimizer.reset();
  }
  this->Modified();
}

std::string
VQVAEModel::GetDeviceInUse() const
{
  return m_Impl->device.str();
}

void
VQVAEModel::SetLearningRate(double rate)
{
  if (!(rate > 0.0))
  {
    itkExceptionMacro(<< "learning rate must be > 0, it is " << rate);
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
VQVAEModel::Initialize()
{
  m_Hyperparameters.Validate();
  SetTorchThreads();
  torch::manual_seed(m_Seed);
  m_Impl->network = vqvae::Network(ToOptions(m_Hyperparameters));
  m_Impl->network->to(m_Impl->device);
  m_Impl->optimizer.reset();
  m_Impl->pendingOptimizerState.clear();
  m_Impl->generator = at::detail::createCPUGenerator(m_Seed ^ 0x9E3779B97F4A7C15ull);
  m_NumberOfTrainingSteps = 0;
  m_HasTrainingState = false;
  m_TrainerState.clear();
  this->Modified();
}

void
VQVAEModel::CheckInput(unsigned int n, unsigned int height, unsigned int width) const
{
  if (!this->IsInitialized())
  {
    itkExceptionMacro(<< "the model has no network: call Initialize() or Read(file) first");
  }
  const unsigned int f = this->GetDownsamplingFactor();
  if (n == 0 || height == 0 || width == 0 || height % f != 0 || width % f != 0)
  {
    itkExceptionMacro(<< "images of " << n << " x " << width << " x " << height
                      << " pixels cannot be encoded: the width and height must be positive multiples of " << f
                      << " (2^number of downsamplings)");
  }
}

namespace
{
// Runs fn(firstImage, count) over batches of at most `batch` images.
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

torch::Tensor
ImagesToTensor(const float * images, unsigned int first, unsigned int count, int64_t c, unsigned int h, unsigned int w,
               const torch::Device & device)
{
  const size_t per = static_cast<size_t>(c) * h * w;
  auto         t = torch::from_blob(const_cast<float *>(images) + first * per, { count, c, h, w }, torch::kFloat);
  return device.is_cpu() ? t : t.to(device);
}

void
TensorToFloats(const torch::Tensor & t, std::vector<float> & out, size_t offset)
{
  auto cpu = t.to(torch::kCPU, torch::kFloat).contiguous();
  std::memcpy(out.data() + offset, cpu.data_ptr<float>(), cpu.numel() * sizeof(float));
}
} // namespace

std::vector<int32_t>
VQVAEModel::Encode(const float * images, unsigned int n, unsigned int height, unsigned int width) const
{
  this->CheckInput(n, height, width);
  const unsigned int f = this->GetDownsamplingFactor();
  const size_t       per = static_cast<size_t>(height / f) * (width / f);
  std::vector<int32_t> out(n * per);
  torch::NoGradGuard   noGrad;
  auto &               net = m_Impl->network;
  net->eval();
  ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto x = ImagesToTensor(images, first, count, m_Hyperparameters.InputChannels, height, width, m_Impl->device);
    auto idx = net->quantizer->NearestCodes(net->Encode(x)).to(torch::kCPU, torch::kInt).contiguous();
    std::memcpy(out.data() + first * per, idx.data_ptr<int32_t>(), idx.numel() * sizeof(int32_t));
  });
  return out;
}

std::vector<float>
VQVAEModel::EncodeToLatents(const float * images, unsigned int n, unsigned int height, unsigned int width) const
{
  this->CheckInput(n, height, width);
  const unsigned int f = this->GetDownsamplingFactor();
  const size_t       per = static_cast<size_t>(m_Hyperparameters.CodeDimension) * (height / f) * (width / f);
  std::vector<float> out(n * per);
  torch::NoGradGuard noGrad;
  auto &             net = m_Impl->network;
  net->eval();
  ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto x = ImagesToTensor(images, first, count, m_Hyperparameters.InputChannels, height, width, m_Impl->device);
    TensorToFloats(net->Encode(x), out, first * per);
  });
  return out;
}

std::vector<float>
VQVAEModel::Decode(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const
{
  const unsigned int f = this->GetDownsamplingFactor();
  this->CheckInput(n, h * f, w * f);
  const size_t perIn = static_cast<size_t>(h) * w;
  const int64_t K = m_Hyperparameters.CodebookSize;
  for (size_t i = 0; i < n * perIn; ++i)
  {
    if (indices[i] < 0 || indices[i] >= K)
    {
      itkExceptionMacro(<< "codebook index " << indices[i] << " at position " << i << " is outside 0.." << K - 1
                        << ": the index maps do not belong to this model");
    }
  }
  const size_t       perOut = static_cast<size_t>(m_Hyperparameters.InputChannels) * h * f * w * f;
  std::vector<float> out(n * perOut);
  torch::NoGradGuard noGrad;
  auto &             net = m_Impl->network;
  net->eval();
  ForBatches(n, m_InferenceBatchSize, [&](unsigned int first, unsigned int count) {
    auto idx = torch::from_blob(const_cast<int32_t *>(indices) + first * perIn, { count, h, w }, torch::kInt)
                 .to(m_Impl->device, torch::kLong);
    TensorToFloats(net->Decode(net->quantizer->Lookup(idx)), out, first * perOut);
  });
  return out;
}

std::vector<float>
VQVAEModel::Reconstruct(const float * images, unsigned int n, unsigned int height, unsigned int width) const
{
  const auto         idx = this->Encode(images, n, height, width);
  const unsigned int f = this->GetDownsamplingFactor();
  return this->Decode(idx.data(), n, height / f, width / f);
}

std::vector<float>
VQVAEModel::GetCodebook() const
{
  if (!this->IsInitialized())
  {
    itkExceptionMacro(<< "the model has no network: call Initialize() or Read(file) first");
  }
  torch::NoGradGuard noGrad;
  const auto &       cb = m_Impl->network->quantizer->codebook;
  std::vector<float> out(cb.numel());
  TensorToFloats(cb, out, 0);
  return out;
}

VQVAEModel::TrainingStepResult
VQVAEModel::TrainStep(const float * images, unsigned int n, unsigned int height, unsigned int width)
{
  this->CheckInput(n, height, width);
  auto & net = m_Impl->network;
  if (!m_Impl->optimizer)
  {
    m_Impl->optimizer =
      std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(m_LearningRate));
    if (!m_Impl->pendingOptimizerState.empty())
    {
      std::istringstream             stream(m_Impl->pendingOptimizerState);
      torch::serialize::InputArchive archive;
      archive.load_from(stream, m_Impl->device);
      m_Impl->optimizer->load(archive);
      m_Impl->pendingOptimizerState.clear();
      for (auto & group : m_Impl->optimizer->param_groups()) // the rate asked for now, not the one saved
      {
        static_cast<torch::optim::AdamOptions &>(group.options()).lr(m_LearningRate);
      }
    }
  }
  net->train();
  auto x = ImagesToTensor(images, 0, n, m_Hyperparameters.InputChannels, height, width, m_Impl->device);
  auto z = net->Encode(x);
  auto q = net->quantizer->forward(z, &m_Impl->generator);
  auto reconstruction = net->Decode(q.quantized);
  auto mse = torch::mse_loss(reconstruction, x);
  auto total = mse + q.codebookLoss + q.commitmentLoss;
  m_Impl->optimizer->zero_grad();
  total.backward();
  m_Impl->optimizer->step();
  ++m_NumberOfTrainingSteps;

  TrainingStepResult r;
  r.ReconstructionLoss = mse.item<double>();
  r.CodebookLoss = q.codebookLoss.item<double>();
  r.CommitmentLoss = q.commitmentLoss.item<double>();
  r.TotalLoss = total.item<double>();
  r.Perplexity = q.perplexity;
  r.CodesInUse = static_cast<unsigned int>(q.codesInUse);
  return r;
}

namespace
{
std::string
ToHex(const torch::Tensor & bytes)
{
  static const char * digits = "0123456789abcdef";
  auto                b = bytes.to(torch::kCPU, torch::kByte).contiguous();
  const uint8_t *     p = b.data_ptr<uint8_t>();
  std::string         out;
  out.reserve(2 * b.numel());
  for (int64_t i = 0; i < b.numel(); ++i)
  {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

bool
FromHex(const std::string & text, torch::Tensor & bytes)
{
  if (text.size() % 2 != 0)
    return false;
  bytes = torch::empty({ static_cast<int64_t>(text.size() / 2) }, torch::kByte);
  uint8_t * p = bytes.data_ptr<uint8_t>();
  auto      nibble = [](char c) -> int {
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
  };
  for (size_t i = 0; i < text.size(); i += 2)
  {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    p[i / 2] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}
} // namespace

void
VQVAEModel::Write(const std::string & path) const
{
  this->WriteFile(path, false);
}

void
VQVAEModel::WriteCheckpoint(const std::string & path) const
{
  this->WriteFile(path, true);
}

void
VQVAEModel::WriteFile(const std::string & path, bool checkpoint) const
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
         << "kind = VQ-VAE (Noguchi & Inoue, Phys. Rev. E 104, 025302, 2021)\n"
         << "input_channels = " << h.InputChannels << '\n'
         << "encoder_channels = " << Join(h.EncoderChannels) << '\n'
         << "residual_blocks = " << h.NumberOfResidualBlocks << '\n'
         << "codebook_size = " << h.CodebookSize << '\n'
         << "code_dimension = " << h.CodeDimension << '\n'
         << "commitment_cost = " << h.CommitmentCost << '\n'
         << "codebook_update = " << h.CodebookUpdate << '\n'
         << "ema_decay = " << h.EMADecay << '\n'
         << "dead_code_threshold = " << h.DeadCodeThreshold << '\n'
         << "intensity_minimum = " << m_IntensityMinimum << '\n'
         << "intensity_maximum = " << m_IntensityMaximum << '\n'
         << "pixel_size_um = " << m_PixelSizeMicrometres << '\n'
         << "patch_size = " << m_PatchSize << '\n'
         << "seed = " << m_Seed << '\n'
         << "training_steps = " << m_NumberOfTrainingSteps << '\n'
         << "training_summary = " << Escape(m_TrainingSummary) << '\n'
         << "weights_bytes = " << w.size() << '\n'
         << "weights_fnv1a64 = " << std::hex << FNV1a64(w.data(), w.size()) << std::dec << '\n';
  std::string optimizerState;
  if (checkpoint)
  {
    optimizerState = m_Impl->SaveOptimizerState();
    header << "learning_rate = " << m_LearningRate << '\n'
           << "generator_state = " << ToHex(m_Impl->generator.get_state()) << '\n'
           << "trainer_state = " << Escape(m_TrainerState) << '\n'
           << "optimizer_bytes = " << optimizerState.size() << '\n'
           << "optimizer_fnv1a64 = " << std::hex << FNV1a64(optimizerState.data(), optimizerState.size()) << std::dec
           << '\n';
  }
  header << "end_header\n";

  CheckOutputPathWritable(path);
  AtomicOutputFile out(path);
  {
    std::ofstream f(out.GetTemporaryPath(), std::ios::binary);
    f << header.str();
    f.write(w.data(), static_cast<std::streamsize>(w.size()));
    f.write(optimizerState.data(), static_cast<std::streamsize>(optimizerState.size()));
    f.close();
    if (!f)
    {
      itkExceptionMacro(<< "could not write the model file " << path << " (disk full or no permission?)");
    }
  }
  out.Commit();
}

void
VQVAEModel::Read(const std::string & path)
{
  std::ifstream f(path, std::ios::binary);
  if (!f)
  {
    itkExceptionMacro(<< "cannot open the VQ-VAE model file " << path << ": check the path and its permissions");
  }
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string magic = FileMagic;
  if (data.compare(0, magic.size(), magic) != 0)
  {
    itkExceptionMacro(<< path << " is not a VQ-VAE model file of ITKStochasticMicrostructure (it does not begin with "
                      << magic << "): give a file written by VQVAEModel::Write (MicrostructureTrainVQVAE)");
  }
  // Header lines up to "end_header".
  std::map<std::string, std::string> keys;
  size_t                             pos = 0;
  bool                               first = true, ended = false;
  unsigned int                       version = 0;
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
      if (!(s >> version))
      {
        itkExceptionMacro(<< path << ": the first line \"" << line.substr(0, 40)
                          << "\" has no format version: the file is damaged");
      }
      if (version != FileFormatVersion)
      {
        itkExceptionMacro(<< path << " is a VQ-VAE model file of format version " << version
                          << ", which this build cannot read (it reads version " << FileFormatVersion
                          << "): use the ITKStochasticMicrostructure version that wrote it, or retrain the model");
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
      itkExceptionMacro(<< path << ": header line \"" << line.substr(0, 60) << "\" is not 'key = value': the file is damaged");
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
    {
      ExceptionObject e(__FILE__, __LINE__,
                        path + ": the header lacks \"" + key + "\": the file is damaged or was not written by VQVAEModel",
                        ITK_LOCATION);
      throw e;
    }
    return it->second;
  };
  auto number = [&](const std::string & key) -> double {
    const std::string & v = get(key);
    try
    {
      size_t       used = 0;
      const double d = std::stod(v, &used);
      if (used == v.size())
        return d;
    }
    catch (const std::exception &)
    {}
    ExceptionObject e(__FILE__, __LINE__, path + ": header value " + key + " = \"" + v + "\" is not a number: the file is damaged",
                      ITK_LOCATION);
    throw e;
  };
  auto count = [&](const std::string & key) -> unsigned int {
    const double d = number(key);
    if (d < 0 || d != std::floor(d) || d > 1e9)
    {
      ExceptionObject e(__FILE__, __LINE__, path + ": header value " + key + " is not a count: the file is damaged",
                        ITK_LOCATION);
      throw e;
    }
    return static_cast<unsigned int>(d);
  };

  Hyperparameters h;
  h.InputChannels = count("input_channels");
  h.EncoderChannels.clear();
  {
    std::stringstream s(get("encoder_channels"));
    std::string       item;
    while (std::getline(s, item, ','))
    {
      keys["encoder_channel"] = item;
      h.EncoderChannels.push_back(count("encoder_channel"));
    }
  }
  h.NumberOfResidualBlocks = count("residual_blocks");
  h.CodebookSize = count("codebook_size");
  h.CodeDimension = count("code_dimension");
  h.CommitmentCost = number("commitment_cost");
  h.CodebookUpdate = get("codebook_update");
  h.EMADecay = number("ema_decay");
  h.DeadCodeThreshold = number("dead_code_threshold");
  h.Validate();
  const double iMin = number("intensity_minimum");
  const double iMax = number("intensity_maximum");
  if (!(iMax > iMin))
  {
    itkExceptionMacro(<< path << ": intensity_maximum must exceed intensity_minimum: the file is damaged");
  }

  const bool   isCheckpoint = keys.count("optimizer_bytes") > 0;
  const size_t expected = static_cast<size_t>(number("weights_bytes"));
  const size_t optimizerBytes = isCheckpoint ? static_cast<size_t>(number("optimizer_bytes")) : 0;
  const size_t present = data.size() - pos;
  if (present != expected + optimizerBytes)
  {
    itkExceptionMacro(<< path << " holds " << present << " bytes after its header where the header announces "
                      << expected + optimizerBytes << ": the file is truncated or damaged; write it again");
  }
  auto checkSum = [&](size_t offset, size_t size, const std::string & key, const char * what) {
    std::ostringstream checksum;
    checksum << std::hex << FNV1a64(data.data() + offset, size);
    if (checksum.str() != get(key))
    {
      ExceptionObject e(__FILE__, __LINE__,
                        path + ": the " + what + " checksum does not match the header: the file is damaged; write it again",
                        ITK_LOCATION);
      throw e;
    }
  };
  checkSum(pos, expected, "weights_fnv1a64", "weights'");
  torch::Tensor generatorState;
  std::string   trainerState;
  if (isCheckpoint)
  {
    checkSum(pos + expected, optimizerBytes, "optimizer_fnv1a64", "optimizer state's");
    if (!FromHex(get("generator_state"), generatorState))
    {
      itkExceptionMacro(<< path << ": generator_state is not hexadecimal: the checkpoint is damaged");
    }
    trainerState = Unescape(get("trainer_state"));
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

  SetTorchThreads();
  vqvae::Network network(ToOptions(h));
  try
  {
    std::istringstream                weights(data.substr(pos, expected));
    torch::serialize::InputArchive    archive;
    archive.load_from(weights, m_Impl->device);
    network->load(archive);
  }
  catch (const c10::Error & e)
  {
    itkExceptionMacro(<< path << ": the weights do not match the header's architecture or are damaged ("
                      << e.what_without_backtrace() << ")");
  }
  network->to(m_Impl->device);

  const auto steps = static_cast<unsigned long>(number("training_steps"));
  torch::Generator generator = at::detail::createCPUGenerator(seed ^ 0x9E3779B97F4A7C15ull ^ steps);
  if (isCheckpoint)
  {
    try
    {
      generator.set_state(generatorState);
    }
    catch (const c10::Error & e)
    {
      itkExceptionMacro(<< path << ": generator_state does not fit this LibTorch (" << e.what_without_backtrace() << ")");
    }
  }

  // Everything read: commit.
  m_Hyperparameters = h;
  m_IntensityMinimum = iMin;
  m_IntensityMaximum = iMax;
  m_PixelSizeMicrometres = number("pixel_size_um");
  m_PatchSize = count("patch_size");
  m_NumberOfTrainingSteps = steps;
  m_TrainingSummary = Unescape(get("training_summary"));
  m_Seed = seed;
  m_Impl->network = network;
  m_Impl->optimizer.reset();
  m_Impl->generator = generator;
  m_Impl->pendingOptimizerState = data.substr(pos + expected, optimizerBytes);
  m_HasTrainingState = isCheckpoint;
  m_TrainerState = trainerState;
  this->Modified();
}

void
VQVAEModel::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  const auto & h = m_Hyperparameters;
  os << indent << "InputChannels: " << h.InputChannels << '\n'
     << indent << "EncoderChannels: " << Join(h.EncoderChannels) << '\n'
     << indent << "NumberOfResidualBlocks: " << h.NumberOfResidualBlocks << '\n'
     << indent << "CodebookSize (K): " << h.CodebookSize << '\n'
     << indent << "CodeDimension (D): " << h.CodeDimension << '\n'
     << indent << "CommitmentCost (beta): " << h.CommitmentCost << '\n'
     << indent << "CodebookUpdate: " << h.CodebookUpdate << '\n'
     << indent << "EMADecay: " << h.EMADecay << '\n'
     << indent << "DeadCodeThreshold: " << h.DeadCodeThreshold << '\n'
     << indent << "Seed: " << m_Seed << '\n'
     << indent << "Device: " << m_Device << " (in use: " << this->GetDeviceInUse() << ")\n"
     << indent << "LearningRate: " << m_LearningRate << '\n'
     << indent << "InferenceBatchSize: " << m_InferenceBatchSize << '\n'
     << indent << "IntensityRange: " << m_IntensityMinimum << " .. " << m_IntensityMaximum << '\n'
     << indent << "PixelSizeMicrometres: " << m_PixelSizeMicrometres << '\n'
     << indent << "PatchSize: " << m_PatchSize << '\n'
     << indent << "NumberOfTrainingSteps: " << m_NumberOfTrainingSteps << '\n'
     << indent << "Initialized: " << (this->IsInitialized() ? "yes" : "no") << '\n'
     << indent << "HasTrainingState: " << (m_HasTrainingState ? "yes" : "no") << '\n'
     << indent << "TrainingSummary: " << m_TrainingSummary << '\n';
}

} // end namespace itk
