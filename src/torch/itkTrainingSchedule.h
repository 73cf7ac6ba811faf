/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the data order of
 * the trainers (VQVAETrainer, PixelCNNPriorTrainer), their learning-rate
 * schedule and checkpoint state text. Torch-free.
 *=========================================================================*/
#ifndef itkTrainingSchedule_h
#define itkTrainingSchedule_h

#include "itkMacro.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace itk
{
namespace training
{

/** SplitMix64: decorrelates (seed, counter) into a generator seed. */
inline uint64_t
Mix(uint64_t x)
{
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/** Visit order of epoch `epoch` (0-based) over n items, and one random 2-bit
 * code per visit (flipCodes; all 0 unless `flips`). Fisher-Yates on a 64-bit
 * Mersenne twister seeded from (seed, epoch): the same on every platform and
 * independent of anything but its arguments, so a resumed run sees the data in
 * the order the uninterrupted run would have. */
inline void
EpochOrder(uint64_t seed, unsigned int epoch, size_t n, bool flips, std::vector<uint32_t> & order,
           std::vector<uint8_t> & flipCodes)
{
  std::mt19937_64 rng(Mix(seed ^ Mix(epoch + 1)));
  order.resize(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = static_cast<uint32_t>(i);
  for (size_t i = n; i > 1; --i)
  {
    const size_t j = static_cast<size_t>(rng() % i);
    std::swap(order[i - 1], order[j]);
  }
  flipCodes.assign(n, 0);
  if (flips)
  {
    for (auto & f : flipCodes)
      f = static_cast<uint8_t>(rng() & 3u);
  }
}

/** One process's share of every batch of a data-parallel job (itk::DataParallel): the batch of
 * batchSize items is split evenly between the job's `processes` processes, process `rank` taking
 * `count` items from `first` on, so that the job sees the same global batch as one process. Throws
 * itk::ExceptionObject when batchSize is not a multiple of processes (`items` names them in the
 * message, e.g. "patches"). */
struct BatchShare
{
  unsigned int count;
  unsigned int first;
};
inline BatchShare
ShareOfBatch(unsigned int batchSize, unsigned int processes, unsigned int rank, const char * items)
{
  if (processes == 0 || batchSize % processes != 0)
  {
    itkGenericExceptionMacro(<< "a batch of " << batchSize << " " << items
                             << " cannot be split evenly between the job's " << processes
                             << " processes: give a batch size that is a multiple of " << processes);
  }
  return { batchSize / processes, batchSize / processes * rank };
}

/** A trainer's state in a checkpoint: a magic line, "key value" lines, then
 * "log" and the epoch log as CSV. */
struct TrainerStateText
{
  std::map<std::string, std::string> values;
  std::string                        log;

  /** The value of key; throws std::runtime_error naming the key when absent. */
  const std::string &
  Get(const std::string & key) const
  {
    const auto it = values.find(key);
    if (it == values.end())
      throw std::runtime_error("the checkpoint's trainer state lacks \"" + key + "\": it is damaged");
    return it->second;
  }
};

inline std::string
FormatTrainerState(const std::string & magic, const std::vector<std::pair<std::string, std::string>> & values,
                   const std::string & logCSV)
{
  std::string text = magic + "\n";
  for (const auto & kv : values)
    text += kv.first + " " + kv.second + "\n";
  return text + "log\n" + logCSV;
}

/** Throws std::runtime_error when the text does not begin with the magic line. */
inline TrainerStateText
ParseTrainerState(const std::string & text, const std::string & magic)
{
  std::istringstream s(text);
  std::string        line;
  std::getline(s, line);
  if (line != magic)
    throw std::runtime_error("the checkpoint's trainer state begins with \"" + line.substr(0, 30) + "\", not \"" +
                             magic + "\": it was written by another trainer");
  TrainerStateText state;
  while (std::getline(s, line) && line != "log")
  {
    const size_t sp = line.find(' ');
    state.values[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
  }
  state.log.assign(std::istreambuf_iterator<char>(s), std::istreambuf_iterator<char>());
  return state;
}

/** Throws itk::ExceptionObject unless schedule is "constant" or "cosine". */
inline void
CheckLearningRateSchedule(const std::string & schedule)
{
  if (schedule != "constant" && schedule != "cosine")
    throw ExceptionObject(
      __FILE__, __LINE__, "unknown learning-rate schedule \"" + schedule + "\": use constant or cosine", ITK_LOCATION);
}

/** The learning rate at step (0-based) of total: "constant" gives base; "cosine" decays from base
 * to 5 % of it along half a cosine (a function of the step alone, so a resumed run follows the
 * same schedule). */
inline double
ScheduledLearningRate(const std::string & schedule, double base, unsigned long step, unsigned long total)
{
  if (schedule != "cosine" || total == 0)
    return base;
  const double t = static_cast<double>(step) / static_cast<double>(total);
  return base * (0.05 + 0.95 * 0.5 * (1.0 + std::cos(3.14159265358979323846 * t)));
}

} // namespace training
} // namespace itk

#endif
