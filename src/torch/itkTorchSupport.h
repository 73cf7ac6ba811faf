/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: what the models
 * (VQVAEModel, PixelCNNPriorModel) share around LibTorch: devices, threads,
 * batches, and an Adam optimizer whose state survives device changes and
 * checkpoints.
 *=========================================================================*/
#ifndef itkTorchSupport_h
#define itkTorchSupport_h

#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <string>

namespace itk
{
namespace torchsupport
{

/** "auto" (CUDA when available), "cpu" or "cuda:N". An unavailable CUDA device gives the CPU and
 * a warning text; a malformed name throws itk::ExceptionObject saying what is accepted. */
torch::Device
ResolveDevice(const std::string & name, std::string & warning);

/** Arithmetic of the convolutions and matrix products in training: "float32", "bfloat16" (mixed
 * precision: LibTorch's autocast runs them in bfloat16, everything else, the weights and the
 * optimizer stay float32) or "auto" (float32 on every device: bfloat16 training cost fidelity in
 * the demo's cross-validation, docs/cross_validation.md, session 34). Returns "float32" or "bfloat16";
 * an unknown name, or "bfloat16" on a CPU without AVX-512, throws itk::ExceptionObject. */
std::string
ResolvePrecision(const std::string & name, const torch::Device & device);

/** While alive, LibTorch's autocast to bfloat16 on `device` is on (when `enabled`); restores the
 * previous state and clears autocast's weight cache on destruction. Thread-local, like autocast. */
class BFloat16Autocast
{
public:
  BFloat16Autocast(bool enabled, const torch::Device & device);
  ~BFloat16Autocast();
  BFloat16Autocast(const BFloat16Autocast &) = delete;
  BFloat16Autocast &
  operator=(const BFloat16Autocast &) = delete;

private:
  bool           m_Enabled;
  bool           m_Cuda;
  bool           m_WasEnabled{ false };
  at::ScalarType m_WasType{ at::kFloat };
};

/** LibTorch's intra-op threads = ITK's global default number of threads. */
void
SetTorchThreads();

/** Runs fn(first, count) over batches of at most `batch` items. */
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

/** Adam, created on first use; its state (moments, step counts) can be saved, parked across a
 * device change and restored from a checkpoint. */
class Optimizer
{
public:
  /** The optimizer over the module's parameters; created (loading a parked or checkpoint state,
   * then the learning rate asked for now) when there is none. */
  torch::optim::Adam &
  Get(torch::nn::Module & module, double learningRate, const torch::Device & device);
  void
  SetLearningRate(double learningRate);
  /** The state as bytes (the parked state when no optimizer exists; empty when neither). */
  std::string
  Save() const;
  /** Keep the state as bytes and drop the optimizer (before the parameters move to another device). */
  void
  Park();
  /** Drop optimizer and state (new weights). */
  void
  Reset();
  /** A state read from a checkpoint, loaded when the optimizer is created. */
  void
  SetPending(std::string bytes);

private:
  std::unique_ptr<torch::optim::Adam> m_Adam;
  std::string                         m_Pending;
};

} // namespace torchsupport
} // namespace itk

#endif
