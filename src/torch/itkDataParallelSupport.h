/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: what the models need of the data-parallel
 * process group (itk::DataParallel, include/itkDataParallel.h).
 *=========================================================================*/
#ifndef itkDataParallelSupport_h
#define itkDataParallelSupport_h

#include "itkDataParallel.h"
#include "itkMacro.h"

#include <torch/torch.h>

#include <memory>
#include <string>

namespace itk
{
namespace dataparallel
{

/** Averages the gradients of a module's parameters over the job's processes, as PyTorch's
 * DistributedDataParallel does: after the backward pass, c10d all-reduces them in buckets of at
 * most 25 MiB (DDP's cap; flattened as c10d's own broadcast_coalesced does) and divides by the
 * number of processes. (c10d's Reducer, which overlaps the buckets with the backward pass, cannot
 * be used: Debian's libtorch-dev lacks the distributed-autograd headers its header includes.)
 * Construction broadcasts the parameters and buffers from rank 0, so every process starts from
 * the same weights. A no-op outside a job (itk::DataParallel::IsActive()). */
class GradientAverager
{
public:
  explicit GradientAverager(torch::nn::Module & module);
  GradientAverager(const GradientAverager &) = delete;
  GradientAverager &
  operator=(const GradientAverager &) = delete;

  /** Call after backward(), before the optimizer's step. */
  void
  Average();

  static constexpr size_t BucketBytes = 25u << 20;

private:
  std::vector<torch::Tensor> m_Parameters;
};

/** Sums tensors over the processes in place (identical on every process afterwards). */
void
AllReduceSum(std::vector<torch::Tensor> & tensors);

/** The sum over the processes of `t`, differentiable: the backward pass sums the gradients over the
 * processes too (what synchronised batch normalisation needs). Outside a job: t. */
torch::Tensor
AllReduceSumWithGradient(const torch::Tensor & t);

/** The processes' tensors (same shape on every process) joined along dimension 0 in rank order.
 * Outside a job: t. */
torch::Tensor
AllGather(const torch::Tensor & t);

/** Broadcasts tensors from rank 0 in place. */
void
Broadcast(std::vector<torch::Tensor> & tensors);

/** The message of an error raised by a collective, as an itk::ExceptionObject text: which process
 * failed where, and what to do. */
std::string
LostProcessMessage(const std::string & where, const std::string & what);

/** Runs fn(); an exception from a collective inside it becomes itk::ExceptionObject with
 * LostProcessMessage(where, ...). A no-op wrapper outside a job. */
template <typename F>
auto
Collective(const std::string & where, F && fn) -> decltype(fn())
{
  if (!DataParallel::IsActive())
    return fn();
  try
  {
    return fn();
  }
  catch (const ExceptionObject &)
  {
    throw;
  }
  catch (const c10::Error & e)
  {
    throw ExceptionObject(__FILE__, __LINE__, LostProcessMessage(where, e.what_without_backtrace()), "Collective");
  }
  catch (const std::exception & e)
  {
    throw ExceptionObject(__FILE__, __LINE__, LostProcessMessage(where, e.what()), "Collective");
  }
}

} // namespace dataparallel
} // namespace itk

#endif
