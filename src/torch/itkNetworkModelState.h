/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the torch state of
 * itk::NetworkModelBase (include/itkNetworkModelBase.h), which the two models
 * share: the device in use, Adam, and in a data-parallel job the averager of
 * the training step's gradients.
 *=========================================================================*/
#ifndef itkNetworkModelState_h
#define itkNetworkModelState_h

#include "itkDataParallelSupport.h"
#include "itkNetworkModelBase.h"
#include "itkTorchSupport.h"

#include <memory>

namespace itk
{

struct NetworkModelBase::TorchState
{
  torch::Device           device{ torch::kCPU };
  torchsupport::Optimizer optimizer;
  /** While in a data-parallel job (itk::DataParallel): averages the training step's gradients over the
   * processes. Made at the first step, dropped with the network (or device) it was made for. */
  std::unique_ptr<dataparallel::GradientAverager> averager;

  /** No optimiser state and no averager: for a new or discarded network. */
  void
  Reset()
  {
    optimizer.Reset();
    averager.reset();
  }
};

} // end namespace itk

#endif
