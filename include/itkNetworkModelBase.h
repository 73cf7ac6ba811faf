/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkNetworkModelBase_h
#define itkNetworkModelBase_h

#include "itkObject.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace itk
{
namespace modelfile
{
class Contents; // a model file as read (private to the LibTorch library: itkModelFileFormat.h)
}

/** \class NetworkModelBase
 * \brief What the two learned models of the module (itk::VQVAEModel and
 * itk::PixelCNNPriorModel) share: the device and the arithmetic they train in,
 * the optimiser (Adam) and its learning rate, the seed of their weights, the
 * count of training steps and the state a trainer keeps in a checkpoint.
 * A derived class holds its network, its training step and its file format.
 *
 * Device: "auto" (CUDA when LibTorch has it), "cpu" or "cuda:N". An unavailable
 * CUDA device falls back to the CPU with a warning; a malformed string throws.
 * It takes effect at once when the network exists (Adam's moments follow).
 *
 * Precision of the training step's convolutions: "float32" (default, the
 * paper), "bfloat16" (mixed precision through LibTorch's autocast; the losses,
 * the weights and Adam stay in float32; up to 2x faster on CPUs with
 * AVX512-BF16, at a measured cost in fidelity) or "auto" (float32 on every
 * device: the demo's cross-validation met fewer targets in bfloat16, session
 * 34). Inference always runs in float32. An unknown name, or bfloat16 on a CPU
 * without AVX-512, throws.
 *
 * Checkpoints: a derived class's WriteCheckpoint stores its file plus Adam's
 * state and TrainerState (free text of the trainer: epoch, position, log), so
 * that training goes on exactly as if never stopped; Read of a checkpoint sets
 * HasTrainingState until the next Initialize.
 *
 * LibTorch stays out of this header: the torch state (device, Adam, the
 * data-parallel gradient averager) is private to the StochasticMicrostructureTorch
 * library.
 *
 * \ingroup StochasticMicrostructure
 */
class NetworkModelBase : public Object
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(NetworkModelBase);

  using Self = NetworkModelBase;
  using Superclass = Object;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkTypeMacro(NetworkModelBase, Object);

  /** Seed of the weight initialisation (Initialize) and of any randomness of the training step. */
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);

  /** See the class description. */
  void
  SetDevice(const std::string & device);
  itkGetStringMacro(Device);
  /** The device the network is on: "cpu" or "cuda:N". */
  std::string
  GetDeviceInUse() const;

  /** See the class description. */
  void
  SetPrecision(const std::string & precision);
  itkGetStringMacro(Precision);
  /** "float32" or "bfloat16": what the training step uses on the device in use. */
  std::string
  GetPrecisionInUse() const;

  /** Adam's learning rate for the training step: a finite number > 0 (else it throws). */
  void
  SetLearningRate(double rate);
  itkGetConstMacro(LearningRate, double);

  /** Images or maps per forward pass of inference. */
  itkSetMacro(InferenceBatchSize, unsigned int);
  itkGetConstMacro(InferenceBatchSize, unsigned int);

  /** Free text stored in the model file (the CLIs: how it was trained). */
  itkSetStringMacro(TrainingSummary);
  itkGetStringMacro(TrainingSummary);

  /** Training steps since Initialize (with those of the checkpoint read). */
  itkGetConstMacro(NumberOfTrainingSteps, unsigned long);
  /** True after Read() of a checkpoint, until Initialize(). */
  itkGetConstMacro(HasTrainingState, bool);
  /** Free text the trainer stores in checkpoints. */
  itkSetStringMacro(TrainerState);
  itkGetStringMacro(TrainerState);

  /** A new network, weights drawn from the seed. */
  virtual void
  Initialize() = 0;
  virtual bool
  IsInitialized() const = 0;
  /** The model file, written atomically. */
  virtual void
  Write(const std::string & path) const = 0;
  /** The model file plus the training state (see the class description). */
  virtual void
  WriteCheckpoint(const std::string & path) const = 0;
  /** A model file or checkpoint of the derived class's kind. */
  virtual void
  Read(const std::string & path) = 0;

protected:
  /** The torch state (private to the LibTorch library: itkNetworkModelState.h). */
  struct TorchState;

  NetworkModelBase(double learningRate, unsigned int inferenceBatchSize);
  ~NetworkModelBase() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

  TorchState &
  GetTorchState() const
  {
    return *m_TorchState;
  }
  /** Moves the derived class's network to the device of the torch state (SetDevice, when initialised). */
  virtual void
  MoveNetworkToDevice() = 0;
  /** For Initialize: no steps, no training state, a fresh optimiser. */
  void
  ResetTraining();
  /** For the training step. */
  void
  CountTrainingStep()
  {
    ++m_NumberOfTrainingSteps;
  }
  using HeaderLines = std::vector<std::pair<std::string, std::string>>;
  /** For Write: the seed, the steps and the summary, and for a checkpoint the learning rate, the
   * trainer state (header lines) and Adam's state (section "optimizer"). */
  void
  AppendTrainingHeader(HeaderLines & header, HeaderLines & sections, bool checkpoint) const;
  /** For Read, once the whole file is read and checked: its seed and steps (as parsed), its summary
   * and, for a checkpoint (a file with the section "optimizer"), the trainer state and Adam's state. */
  void
  CommitRead(const modelfile::Contents & file, uint64_t seed, unsigned long steps);

private:
  std::unique_ptr<TorchState> m_TorchState;
  uint64_t                    m_Seed{ 0 };
  std::string                 m_Device{ "auto" };
  std::string                 m_Precision{ "float32" };
  double                      m_LearningRate;
  unsigned int                m_InferenceBatchSize;
  std::string                 m_TrainingSummary;
  unsigned long               m_NumberOfTrainingSteps{ 0 };
  bool                        m_HasTrainingState{ false };
  std::string                 m_TrainerState;
};

} // end namespace itk

#endif
