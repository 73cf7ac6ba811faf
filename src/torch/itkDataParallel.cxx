/*=========================================================================
 * itk::DataParallel (include/itkDataParallel.h) and the models' gradient averaging
 * (itkDataParallelSupport.h) on c10d: TCPStore rendezvous, ProcessGroupGloo, bucketed all-reduce.
 *=========================================================================*/
#include "itkDataParallel.h"
#include "itkDataParallelSupport.h"

#ifdef SM_HAVE_GLOO
#  include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#  include <torch/csrc/distributed/c10d/TCPStore.hpp>
#  include <torch/csrc/distributed/c10d/comm.hpp>
#endif
#include <torch/csrc/utils/tensor_flatten.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace itk
{

namespace
{
struct Group
{
  DataParallel::Settings settings;
  bool                   active{ false };
#ifdef SM_HAVE_GLOO
  c10::intrusive_ptr<c10d::Store>        store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
#endif
};

Group &
TheGroup()
{
  static Group g;
  return g;
}

const char *
Variable(const char * name)
{
  const char * v = std::getenv(name);
  return v && *v ? v : nullptr;
}

unsigned long
Unsigned(const char * name, const char * text, unsigned long maximum)
{
  char * end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > maximum)
  {
    throw ExceptionObject(__FILE__,
                          __LINE__,
                          std::string("the environment variable ") + name + "='" + text +
                            "' is not a whole number in 0.." + std::to_string(maximum) +
                            ": set it as torchrun does, or unset it to train in one process",
                          "DataParallel");
  }
  return v;
}

void
Fail(const std::string & message)
{
  throw ExceptionObject(__FILE__, __LINE__, message, "DataParallel");
}
} // namespace

DataParallel::Settings
DataParallel::SettingsFromEnvironment()
{
  Settings     s;
  const char * world = Variable("WORLD_SIZE");
  if (!world)
    return s;
  s.WorldSize = static_cast<unsigned int>(Unsigned("WORLD_SIZE", world, 65536));
  if (s.WorldSize == 0)
    Fail("WORLD_SIZE=0: a job has at least one process");
  if (s.WorldSize == 1)
    return s;
  const char * rank = Variable("RANK");
  if (!rank)
    Fail("WORLD_SIZE=" + std::to_string(s.WorldSize) +
         " but no RANK: start the processes with torchrun or srun, or "
         "set RANK (0.." +
         std::to_string(s.WorldSize - 1) + ") in each");
  s.Rank = static_cast<unsigned int>(Unsigned("RANK", rank, 65535));
  if (s.Rank >= s.WorldSize)
    Fail("RANK=" + std::to_string(s.Rank) + " is not below WORLD_SIZE=" + std::to_string(s.WorldSize));
  if (const char * local = Variable("LOCAL_RANK"))
    s.LocalRank = static_cast<unsigned int>(Unsigned("LOCAL_RANK", local, 65535));
  const char * address = Variable("MASTER_ADDR");
  const char * port = Variable("MASTER_PORT");
  if (!address || !port)
    Fail(std::string("WORLD_SIZE=") + world + " but no " + (address ? "MASTER_PORT" : "MASTER_ADDR") +
         ": set MASTER_ADDR and MASTER_PORT to rank 0's host and a free port (torchrun does)");
  s.MasterAddress = address;
  s.MasterPort = static_cast<unsigned short>(Unsigned("MASTER_PORT", port, 65535));
  if (const char * timeout = Variable("SM_DISTRIBUTED_TIMEOUT"))
    s.Timeout = std::chrono::seconds(std::max(1UL, Unsigned("SM_DISTRIBUTED_TIMEOUT", timeout, 86400)));
  return s;
}

bool
DataParallel::HasGloo()
{
#ifdef SM_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

void
DataParallel::Join(const Settings & settings)
{
  auto & g = TheGroup();
  if (g.active)
    Fail("this process has already joined a data-parallel job");
  if (settings.WorldSize <= 1)
    return;
  if (settings.Rank >= settings.WorldSize)
    Fail("rank " + std::to_string(settings.Rank) + " is not below the job's " + std::to_string(settings.WorldSize) +
         " processes");
#ifdef SM_HAVE_GLOO
  const std::string who = "process " + std::to_string(settings.Rank) + " of " + std::to_string(settings.WorldSize);
  try
  {
    c10d::TCPStoreOptions options;
    options.port = settings.MasterPort;
    options.isServer = settings.Rank == 0;
    options.numWorkers = settings.WorldSize;
    options.waitWorkers = true;
    options.timeout = settings.Timeout;
    g.store = c10::make_intrusive<c10d::TCPStore>(settings.MasterAddress, options);
    auto gloo = c10d::ProcessGroupGloo::Options::create(settings.Timeout);
    if (const char * interface = std::getenv("GLOO_SOCKET_IFNAME"))
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    else
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    g.group = c10::make_intrusive<c10d::ProcessGroupGloo>(
      g.store, static_cast<int>(settings.Rank), static_cast<int>(settings.WorldSize), gloo);
  }
  catch (const std::exception & e)
  {
    g.group.reset();
    g.store.reset();
    const auto * c10 = dynamic_cast<const c10::Error *>(&e);
    Fail(who + " could not join the job at " + settings.MasterAddress + ":" + std::to_string(settings.MasterPort) +
         " within " + std::to_string(settings.Timeout.count() / 1000) + " s (" +
         (c10 ? c10->what_without_backtrace() : e.what()) +
         "): start all WORLD_SIZE processes with the same MASTER_ADDR and a free MASTER_PORT");
  }
  g.settings = settings;
  g.active = true;
#else
  Fail("this build has no c10d Gloo backend, so it cannot train with WORLD_SIZE=" + std::to_string(settings.WorldSize) +
       ": install libgloo-dev (Debian) and rebuild, or run one process");
#endif
}

bool
DataParallel::IsActive()
{
  return TheGroup().active;
}

unsigned int
DataParallel::GetRank()
{
  return TheGroup().active ? TheGroup().settings.Rank : 0;
}

unsigned int
DataParallel::GetWorldSize()
{
  return TheGroup().active ? TheGroup().settings.WorldSize : 1;
}

bool
DataParallel::IsMainProcess()
{
  return GetRank() == 0;
}

std::vector<double>
DataParallel::AllReduceSum(const std::vector<double> & values)
{
  if (!IsActive() || values.empty())
    return values;
  std::vector<torch::Tensor> t{ torch::tensor(values, torch::kDouble) };
  dataparallel::AllReduceSum(t);
  const auto c = t[0].contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<std::vector<unsigned char>>
DataParallel::AllGatherBytes(const std::vector<unsigned char> & mine)
{
  if (!IsActive())
    return { mine };
  // The lengths first (exact in double up to 2^53), then every piece padded to the longest.
  const unsigned int  world = GetWorldSize();
  std::vector<double> lengths(world, 0.0);
  lengths[GetRank()] = static_cast<double>(mine.size());
  lengths = AllReduceSum(lengths);
  const auto longest = static_cast<int64_t>(*std::max_element(lengths.begin(), lengths.end()));
  auto       padded = torch::zeros({ std::max<int64_t>(longest, 1) }, torch::kUInt8);
  if (!mine.empty())
    std::memcpy(padded.data_ptr<uint8_t>(), mine.data(), mine.size());
  const auto                              all = dataparallel::AllGather(padded).contiguous();
  const auto *                            bytes = all.data_ptr<uint8_t>();
  std::vector<std::vector<unsigned char>> pieces(world);
  for (unsigned int r = 0; r < world; ++r)
  {
    const auto * first = bytes + static_cast<size_t>(r) * static_cast<size_t>(padded.numel());
    pieces[r].assign(first, first + static_cast<size_t>(lengths[r]));
  }
  return pieces;
}

void
DataParallel::Barrier()
{
#ifdef SM_HAVE_GLOO
  if (IsActive())
    dataparallel::Collective("a barrier", [] { TheGroup().group->barrier()->wait(); });
#endif
}

namespace dataparallel
{

std::string
LostProcessMessage(const std::string & where, const std::string & what)
{
  return "process " + std::to_string(DataParallel::GetRank()) + " of " + std::to_string(DataParallel::GetWorldSize()) +
         ": the data-parallel job failed during " + where + " (" + what +
         "): a process failed or was stopped; see the other processes' messages, then restart the whole job "
         "(--resume continues from the last checkpoint)";
}

namespace
{
/** Sums tensors over the processes in place, as one flat buffer (Gloo all-reduces one tensor per
 * process; several would be several devices'). The callers name the step in their Collective. */
void
SumInPlace(std::vector<torch::Tensor> & tensors)
{
#ifdef SM_HAVE_GLOO
  std::vector<torch::Tensor> flat{ torch::utils::flatten_dense_tensors(tensors) };
  TheGroup().group->allreduce(flat)->wait();
  const auto sums = torch::utils::unflatten_dense_tensors(flat[0], tensors);
  for (size_t i = 0; i < tensors.size(); ++i)
    tensors[i].copy_(sums[i]);
#else
  (void)tensors;
#endif
}
} // namespace

void
AllReduceSum(std::vector<torch::Tensor> & tensors)
{
  if (DataParallel::IsActive())
    Collective("an all-reduce", [&] { SumInPlace(tensors); });
}

namespace
{
class AllReduceSumFunction : public torch::autograd::Function<AllReduceSumFunction>
{
public:
  static torch::Tensor
  forward(torch::autograd::AutogradContext *, const torch::Tensor & t)
  {
    std::vector<torch::Tensor> sum{ t.clone().contiguous() };
    AllReduceSum(sum);
    return sum[0];
  }
  static torch::autograd::variable_list
  backward(torch::autograd::AutogradContext *, torch::autograd::variable_list grads)
  {
    std::vector<torch::Tensor> sum{ grads[0].clone().contiguous() };
    AllReduceSum(sum);
    return { sum[0] };
  }
};
} // namespace

torch::Tensor
AllReduceSumWithGradient(const torch::Tensor & t)
{
  return DataParallel::IsActive() ? AllReduceSumFunction::apply(t) : t;
}

torch::Tensor
AllGather(const torch::Tensor & t)
{
#ifdef SM_HAVE_GLOO
  if (!DataParallel::IsActive())
    return t;
  const auto                              input = t.contiguous();
  std::vector<std::vector<torch::Tensor>> out(1);
  for (unsigned int r = 0; r < DataParallel::GetWorldSize(); ++r)
    out[0].push_back(torch::empty_like(input));
  std::vector<torch::Tensor> in{ input };
  Collective("an all-gather", [&] { TheGroup().group->allgather(out, in)->wait(); });
  return torch::cat(out[0], 0);
#else
  return t;
#endif
}

void
Broadcast(std::vector<torch::Tensor> & tensors)
{
#ifdef SM_HAVE_GLOO
  if (!DataParallel::IsActive() || tensors.empty())
    return;
  Collective("a broadcast", [&] { c10d::broadcast_coalesced(TheGroup().group, tensors, 1 << 24, 0); });
#else
  (void)tensors;
#endif
}

GradientAverager::GradientAverager(torch::nn::Module & module)
{
  if (!DataParallel::IsActive())
    return;
  std::vector<torch::Tensor> state;
  for (const auto & p : module.parameters())
    state.push_back(p.detach());
  for (const auto & b : module.buffers())
    state.push_back(b.detach());
  Broadcast(state); // every process starts from rank 0's weights, as DistributedDataParallel
  for (const auto & p : module.parameters())
    if (p.requires_grad())
      m_Parameters.push_back(p);
}

void
GradientAverager::Average()
{
  if (!DataParallel::IsActive() || m_Parameters.empty())
    return;
  const double            processes = DataParallel::GetWorldSize();
  std::vector<at::Tensor> grads;
  for (auto & p : m_Parameters)
  {
    if (!p.grad().defined()) // a parameter this step did not reach: every process still sends it
      p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  // Buckets of at most BucketBytes (DistributedDataParallel's default cap), one all-reduce each.
  for (auto & bucket : torch::utils::take_tensors(grads, BucketBytes))
  {
    SumInPlace(bucket.tensors);
    for (auto & g : bucket.tensors)
      g.div_(processes);
  }
}

} // namespace dataparallel
} // namespace itk
