/*=========================================================================
 * itk::VQVAEModel: the public, torch-free face of the VQ-VAE network
 * (itkVQVAENetwork.h), its training step and its model file.
 *=========================================================================*/
#include "itkVQVAEModel.h"
#include "itkVQVAENetwork.h"
#include "itkModelFile.h"
#include "itkNetworkModelState.h"
#include "itkTorchSupport.h"
#include "itkDataParallelSupport.h"
#include "itkMicrostructureIO.h"
#include "itkMultiThreaderBase.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace itk
{

struct VQVAEModel::Impl
{
  vqvae::Network   network{ nullptr };
  torch::Generator generator{ at::detail::createCPUGenerator(0) }; // the dead-code restarts' draws
};

namespace
{

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
  if (!(GradientLossWeight >= 0.0))
    fail("GradientLossWeight must be >= 0");
  if (!(PhaseLossWeight >= 0.0))
    fail("PhaseLossWeight must be >= 0");
  if (!(HistogramLossWeight >= 0.0))
    fail("HistogramLossWeight must be >= 0");
  if (!(InterfaceLossWeight >= 0.0))
    fail("InterfaceLossWeight must be >= 0");
  if (!(PhaseLossSoftness > 0.0))
    fail("PhaseLossSoftness must be > 0 (the width of the soft threshold in [-1, 1] units; 0.05 is a good start)");
  if (PhaseLossThreshold != "original" && PhaseLossThreshold != "own")
    fail("PhaseLossThreshold must be \"original\" or \"own\", it is \"" + PhaseLossThreshold + "\"");
}


VQVAEModel::VQVAEModel()
  : NetworkModelBase(2e-4, 64)
  , m_Impl(std::make_unique<Impl>())
{}

void
VQVAEModel::MoveNetworkToDevice()
{
  m_Impl->network->to(this->GetTorchState().device);
}

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
VQVAEModel::Initialize()
{
  m_Hyperparameters.Validate();
  torchsupport::SetTorchThreads();
  torch::manual_seed(this->GetSeed());
  m_Impl->network = vqvae::Network(ToOptions(m_Hyperparameters));
  m_Impl->network->to(this->GetTorchState().device);
  this->ResetTraining();
  m_Impl->generator = at::detail::createCPUGenerator(this->GetSeed() ^ 0x9E3779B97F4A7C15ull);
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

/** n images of channels x height x width pixels, one after the other. */
struct Images
{
  const float * data;
  unsigned int  n;
  int64_t       channels;
  unsigned int  height, width;
};

/** The encoder's outputs for the images, batch by batch (eval mode, no gradients): use(first image of
 * the batch, its latents). */
template <typename TUse>
void
EncodeInBatches(vqvae::Network & net, const torch::Device & device, unsigned int batch, const Images & x, TUse use)
{
  torch::NoGradGuard noGrad;
  net->eval();
  torchsupport::ForBatches(x.n, batch, [&](unsigned int first, unsigned int count) {
    use(first, net->Encode(ImagesToTensor(x.data, first, count, x.channels, x.height, x.width, device)));
  });
}
} // namespace

std::vector<int32_t>
VQVAEModel::Encode(const float * images, unsigned int n, unsigned int height, unsigned int width) const
{
  this->CheckInput(n, height, width);
  const unsigned int   f = this->GetDownsamplingFactor();
  const size_t         per = static_cast<size_t>(height / f) * (width / f);
  std::vector<int32_t> out(n * per);
  auto &               net = m_Impl->network;
  const Images         x{ images, n, m_Hyperparameters.InputChannels, height, width };
  EncodeInBatches(net,
                  this->GetTorchState().device,
                  this->GetInferenceBatchSize(),
                  x,
                  [&](unsigned int first, const torch::Tensor & z) {
                    auto idx = net->quantizer->NearestCodes(z).to(torch::kCPU, torch::kInt).contiguous();
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
  const Images       x{ images, n, m_Hyperparameters.InputChannels, height, width };
  EncodeInBatches(m_Impl->network,
                  this->GetTorchState().device,
                  this->GetInferenceBatchSize(),
                  x,
                  [&](unsigned int first, const torch::Tensor & z) { TensorToFloats(z, out, first * per); });
  return out;
}

std::vector<float>
VQVAEModel::Decode(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const
{
  const unsigned int f = this->GetDownsamplingFactor();
  this->CheckInput(n, h * f, w * f);
  const size_t  perIn = static_cast<size_t>(h) * w;
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
  torchsupport::ForBatches(n, this->GetInferenceBatchSize(), [&](unsigned int first, unsigned int count) {
    auto idx = torch::from_blob(const_cast<int32_t *>(indices) + first * perIn, { count, h, w }, torch::kInt)
                 .to(this->GetTorchState().device, torch::kLong);
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
  auto & adam = this->GetTorchState().optimizer.Get(*net, this->GetLearningRate(), this->GetTorchState().device);
  net->train();
  if (DataParallel::IsActive() && !this->GetTorchState().averager)
    this->GetTorchState().averager = std::make_unique<dataparallel::GradientAverager>(*net);
  auto x = ImagesToTensor(images, 0, n, m_Hyperparameters.InputChannels, height, width, this->GetTorchState().device);
  // Mixed precision: encoder and decoder under autocast; the quantizer (nearest codes, EMA) and
  // every loss in float32.
  const bool    bf16 = this->GetPrecisionInUse() == "bfloat16";
  torch::Tensor z, reconstruction;
  {
    torchsupport::BFloat16Autocast autocast(bf16, this->GetTorchState().device);
    z = net->Encode(x);
  }
  auto q = net->quantizer->forward(z.to(torch::kFloat), &m_Impl->generator);
  {
    torchsupport::BFloat16Autocast autocast(bf16, this->GetTorchState().device);
    reconstruction = net->Decode(q.quantized);
  }
  reconstruction = reconstruction.to(torch::kFloat);
  auto   mse = torch::mse_loss(reconstruction, x);
  auto   total = mse + q.codebookLoss + q.commitmentLoss;
  double gradientLoss = 0.0;
  if (m_Hyperparameters.GradientLossWeight > 0.0)
  {
    auto dx = [](const torch::Tensor & t) { return torch::diff(t, 1, -1); };
    auto dy = [](const torch::Tensor & t) { return torch::diff(t, 1, -2); };
    auto gradient = (dx(reconstruction) - dx(x)).abs().mean() + (dy(reconstruction) - dy(x)).abs().mean();
    total = total + m_Hyperparameters.GradientLossWeight * gradient;
    gradientLoss = gradient.item<double>();
  }
  const auto    s = m_Hyperparameters.PhaseLossSoftness;
  torch::Tensor thresholds;
  if (m_Hyperparameters.PhaseLossWeight > 0.0 || m_Hyperparameters.InterfaceLossWeight > 0.0)
  {
    thresholds = vqvae::OtsuThresholds(x);
  }
  double phaseLoss = 0.0;
  if (m_Hyperparameters.PhaseLossWeight > 0.0)
  {
    auto phase =
      vqvae::SoftPhaseMapDistance(reconstruction, x, thresholds, s, m_Hyperparameters.PhaseLossThreshold == "own");
    total = total + m_Hyperparameters.PhaseLossWeight * phase;
    phaseLoss = phase.item<double>();
  }
  double interfaceLoss = 0.0;
  if (m_Hyperparameters.InterfaceLossWeight > 0.0)
  {
    // Relative to the original's density; 1e-3 (one boundary in 1000 pixel steps) keeps images
    // without boundaries from dominating.
    const auto original = vqvae::SoftInterfaceDensity(x, thresholds, s);
    const auto relative = (vqvae::SoftInterfaceDensity(reconstruction, thresholds, s) - original) / (original + 1e-3);
    auto       interface = relative.pow(2).mean();
    total = total + m_Hyperparameters.InterfaceLossWeight * interface;
    interfaceLoss = interface.item<double>();
  }
  double histogramLoss = 0.0;
  if (m_Hyperparameters.HistogramLossWeight > 0.0)
  {
    auto histogram = vqvae::SortedIntensityDistance(reconstruction, x);
    total = total + m_Hyperparameters.HistogramLossWeight * histogram;
    histogramLoss = histogram.item<double>();
  }
  adam.zero_grad();
  dataparallel::Collective("the VQ-VAE's backward pass (synchronised batch normalisation)", [&] { total.backward(); });
  if (this->GetTorchState().averager)
    dataparallel::Collective("the VQ-VAE's gradient all-reduce", [&] { this->GetTorchState().averager->Average(); });
  adam.step();
  this->CountTrainingStep();

  TrainingStepResult r;
  r.ReconstructionLoss = mse.item<double>();
  r.CodebookLoss = q.codebookLoss.item<double>();
  r.CommitmentLoss = q.commitmentLoss.item<double>();
  r.GradientLoss = gradientLoss;
  r.PhaseLoss = phaseLoss;
  r.HistogramLoss = histogramLoss;
  r.InterfaceLoss = interfaceLoss;
  r.TotalLoss = total.item<double>();
  r.Perplexity = q.perplexity;
  r.CodesInUse = static_cast<unsigned int>(q.codesInUse);
  return r;
}

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

namespace
{
const modelfile::Kind &
VQVAEFileKind()
{
  static const modelfile::Kind kind{ VQVAEModel::FileMagic,
                                     VQVAEModel::FileFormatVersion,
                                     "VQ-VAE model file",
                                     "VQVAEModel::Write (MicrostructureTrainVQVAE)",
                                     "retrain the model" };
  return kind;
}

using modelfile::Exact; // 17 significant digits: reads back exactly
} // namespace

void
VQVAEModel::WriteFile(const std::string & path, bool checkpoint) const
{
  if (!this->IsInitialized())
  {
    itkExceptionMacro(<< "nothing to write to " << path << ": call Initialize() or Read(file) first");
  }
  const auto &                                     h = m_Hyperparameters;
  std::vector<std::pair<std::string, std::string>> header = {
    { "kind", "VQ-VAE (Noguchi & Inoue, Phys. Rev. E 104, 025302, 2021)" },
    { "input_channels", std::to_string(h.InputChannels) },
    { "encoder_channels", modelfile::JoinCounts(h.EncoderChannels) },
    { "residual_blocks", std::to_string(h.NumberOfResidualBlocks) },
    { "codebook_size", std::to_string(h.CodebookSize) },
    { "code_dimension", std::to_string(h.CodeDimension) },
    { "commitment_cost", Exact(h.CommitmentCost) },
    { "codebook_update", h.CodebookUpdate },
    { "ema_decay", Exact(h.EMADecay) },
    { "dead_code_threshold", Exact(h.DeadCodeThreshold) },
    { "gradient_loss_weight", Exact(h.GradientLossWeight) },
    { "phase_loss_weight", Exact(h.PhaseLossWeight) },
    { "phase_loss_softness", Exact(h.PhaseLossSoftness) },
    { "phase_loss_threshold", h.PhaseLossThreshold },
    { "histogram_loss_weight", Exact(h.HistogramLossWeight) },
    { "interface_loss_weight", Exact(h.InterfaceLossWeight) },
    { "intensity_minimum", Exact(m_IntensityMinimum) },
    { "intensity_maximum", Exact(m_IntensityMaximum) },
    { "pixel_size_um", Exact(m_PixelSizeMicrometres) },
    { "patch_size", std::to_string(m_PatchSize) }
  };
  HeaderLines sections = { { "weights", modelfile::SaveModule(*m_Impl->network) } };
  this->AppendTrainingHeader(header, sections, checkpoint);
  if (checkpoint)
    header.push_back({ "generator_state", modelfile::GeneratorStateToHex(m_Impl->generator) });
  modelfile::Write(path, VQVAEFileKind(), header, sections);
}

void
VQVAEModel::Read(const std::string & path)
{
  const auto      c = modelfile::Read(path, VQVAEFileKind(), { "weights", "optimizer" }, [](const std::string & data) {
    return data.compare(0, 10, "ITKSMPRIOR") == 0 ? std::string("a prior model file") : std::string();
  });
  Hyperparameters h;
  h.InputChannels = c.Count("input_channels");
  if (!modelfile::ParseCounts(c.Get("encoder_channels"), h.EncoderChannels))
  {
    itkExceptionMacro(<< path << ": encoder_channels \"" << c.Get("encoder_channels")
                      << "\" is not a list of counts: the file is damaged");
  }
  h.NumberOfResidualBlocks = c.Count("residual_blocks");
  h.CodebookSize = c.Count("codebook_size");
  h.CodeDimension = c.Count("code_dimension");
  h.CommitmentCost = c.Number("commitment_cost");
  h.CodebookUpdate = c.Get("codebook_update");
  h.EMADecay = c.Number("ema_decay");
  h.DeadCodeThreshold = c.Number("dead_code_threshold");
  h.GradientLossWeight = c.Has("gradient_loss_weight") ? c.Number("gradient_loss_weight") : 0.0;
  h.PhaseLossWeight = c.Has("phase_loss_weight") ? c.Number("phase_loss_weight") : 0.0;
  h.PhaseLossSoftness = c.Has("phase_loss_softness") ? c.Number("phase_loss_softness") : 0.05;
  h.PhaseLossThreshold = c.Has("phase_loss_threshold") ? c.Get("phase_loss_threshold") : std::string("original");
  h.HistogramLossWeight = c.Has("histogram_loss_weight") ? c.Number("histogram_loss_weight") : 0.0;
  h.InterfaceLossWeight = c.Has("interface_loss_weight") ? c.Number("interface_loss_weight") : 0.0;
  h.Validate();
  const double iMin = c.Number("intensity_minimum");
  const double iMax = c.Number("intensity_maximum");
  if (!(iMax > iMin))
  {
    itkExceptionMacro(<< path << ": intensity_maximum must exceed intensity_minimum: the file is damaged");
  }
  const uint64_t   seed = c.Unsigned64("seed");
  const auto       steps = static_cast<unsigned long>(c.Unsigned64("training_steps"));
  const bool       isCheckpoint = c.Sections.count("optimizer") > 0;
  torch::Generator generator = at::detail::createCPUGenerator(seed ^ 0x9E3779B97F4A7C15ull ^ steps);
  if (isCheckpoint)
  {
    try
    {
      modelfile::SetGeneratorStateFromHex(generator, c.Get("generator_state"));
    }
    catch (const std::invalid_argument & e)
    {
      itkExceptionMacro(<< path << ": " << e.what() << ": the checkpoint is damaged");
    }
  }

  torchsupport::SetTorchThreads();
  vqvae::Network network(ToOptions(h));
  modelfile::LoadModule(*network, c.Section("weights"), this->GetTorchState().device, path);
  network->to(this->GetTorchState().device);

  // Everything read: commit.
  m_Hyperparameters = h;
  m_IntensityMinimum = iMin;
  m_IntensityMaximum = iMax;
  m_PixelSizeMicrometres = c.Number("pixel_size_um");
  m_PatchSize = c.Count("patch_size");
  m_Impl->network = network;
  m_Impl->generator = generator;
  this->CommitRead(c, seed, steps);
  m_WeightsFingerprint = c.Has("weights_fnv1a64") ? c.Get("weights_fnv1a64") : std::string();
  this->Modified();
}

void
VQVAEModel::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  const auto & h = m_Hyperparameters;
  os << indent << "InputChannels: " << h.InputChannels << '\n'
     << indent << "EncoderChannels: " << modelfile::JoinCounts(h.EncoderChannels) << '\n'
     << indent << "NumberOfResidualBlocks: " << h.NumberOfResidualBlocks << '\n'
     << indent << "CodebookSize (K): " << h.CodebookSize << '\n'
     << indent << "CodeDimension (D): " << h.CodeDimension << '\n'
     << indent << "CommitmentCost (beta): " << h.CommitmentCost << '\n'
     << indent << "CodebookUpdate: " << h.CodebookUpdate << '\n'
     << indent << "EMADecay: " << h.EMADecay << '\n'
     << indent << "DeadCodeThreshold: " << h.DeadCodeThreshold << '\n'
     << indent << "GradientLossWeight: " << h.GradientLossWeight << '\n'
     << indent << "PhaseLossWeight: " << h.PhaseLossWeight << " (softness " << h.PhaseLossSoftness << ", threshold "
     << h.PhaseLossThreshold << ")\n"
     << indent << "HistogramLossWeight: " << h.HistogramLossWeight << '\n'
     << indent << "InterfaceLossWeight: " << h.InterfaceLossWeight << '\n'
     << indent << "IntensityRange: " << m_IntensityMinimum << " .. " << m_IntensityMaximum << '\n'
     << indent << "PixelSizeMicrometres: " << m_PixelSizeMicrometres << '\n'
     << indent << "PatchSize: " << m_PatchSize << '\n'
     << indent << "WeightsFingerprint: " << m_WeightsFingerprint << '\n';
}

} // end namespace itk
