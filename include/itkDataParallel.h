/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkDataParallel_h
#define itkDataParallel_h

#include <chrono>
#include <string>
#include <vector>

namespace itk
{
/** \brief Data-parallel training on torch.distributed (c10d, backend Gloo): the process group
 * of a job started the way PyTorch jobs are started.
 *
 * A job is WorldSize processes, each with its Rank (0..WorldSize-1). They meet at a rendezvous,
 * c10d's TCPStore served by rank 0 at MasterAddress:MasterPort. After Join(), the models'
 * TrainStep average their gradients over the processes (c10d all-reduce in buckets of at most
 * 25 MiB after the backward pass; c10d's Reducer, which PyTorch's DistributedDataParallel uses,
 * needs distributed-autograd headers Debian's LibTorch lacks), and the trainers give each
 * process its share of every global batch; rank 0 writes the logs, checkpoints and models.
 *
 * The settings come from the environment that torchrun and Kubernetes' PyTorchJob set, as
 * PyTorch's env:// initialisation reads it: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
 * MASTER_PORT; without WORLD_SIZE (or with WORLD_SIZE=1) the job is one process and nothing here
 * is used. Slurm's SLURM_* variables are not read (they are set in every step of a multi-task
 * allocation, also where one process runs): under srun, export RANK=$SLURM_PROCID and so on.
 *
 * A process that fails or is killed ends every other process of the job with an
 * itk::ExceptionObject (the peer's closed connection, or the Timeout of a collective that
 * waits for it), never a hang: restart the whole job, with --resume from the last checkpoint.
 *
 * LibTorch stays behind this header: the process group is held in src/torch. Join() needs a
 * build with c10d Gloo (Debian: libgloo-dev at configure time); HasGloo() tells. */
class DataParallel
{
public:
  struct Settings
  {
    unsigned int   Rank{ 0 };
    unsigned int   WorldSize{ 1 };
    unsigned int   LocalRank{ 0 }; ///< read and checked; for a device per process on a multi-GPU machine (not used yet)
    std::string    MasterAddress{ "127.0.0.1" };
    unsigned short MasterPort{ 29500 };
    /** How long the rendezvous and every collective wait for the other processes. */
    std::chrono::milliseconds Timeout{ std::chrono::minutes(5) };
  };

  /** The settings in the environment (above). A variable that is set but malformed, a RANK not
   * below WORLD_SIZE, or a WORLD_SIZE > 1 without MASTER_ADDR or MASTER_PORT throws
   * itk::ExceptionObject naming the variable. */
  static Settings
  SettingsFromEnvironment();

  /** Joins the job's process group (a no-op for WorldSize 1): blocks until all WorldSize
   * processes have joined, or throws itk::ExceptionObject after the Timeout, or when the build
   * has no Gloo. A process joins at most one job. */
  static void
  Join(const Settings & settings);

  /** Whether this process is in a job of more than one process. */
  static bool
  IsActive();
  static unsigned int
  GetRank();
  static unsigned int
  GetWorldSize();
  /** Rank 0, or not in a job: the process that writes. */
  static bool
  IsMainProcess();
  static bool
  HasGloo();

  /** The sum over the processes of each value (identical on every process); the values
   * themselves when not in a job. */
  static std::vector<double>
  AllReduceSum(const std::vector<double> & values);

  /** Every process's bytes, in rank order, on every process (c10d all-gather; the pieces may differ
   * in length); { mine } when not in a job. */
  static std::vector<std::vector<unsigned char>>
  AllGatherBytes(const std::vector<unsigned char> & mine);
  /** Waits until every process has reached this point (or throws after the Timeout). */
  static void
  Barrier();
};
} // end namespace itk

#endif
