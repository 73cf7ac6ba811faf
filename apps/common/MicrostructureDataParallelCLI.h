/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef MicrostructureDataParallelCLI_h
#define MicrostructureDataParallelCLI_h

// For the CLIs that link the LibTorch part of the module (itk::DataParallel lives there): header-only,
// so that MicrostructureCLICommon, which every CLI links, stays free of it.
#include "itkDataParallel.h"

#include <iostream>
#include <string>

namespace sm
{
namespace cli
{
/** Joins the data-parallel job the environment describes, when the CLI was started by torchrun, srun
 * or a PyTorchJob (WORLD_SIZE > 1; itk::DataParallel), and says so on stderr. Returns whether this
 * process is the one that writes (rank 0, or not in a job). */
inline bool
JoinDataParallelJob(const std::string & whatTheMainProcessWrites)
{
  itk::DataParallel::Join(itk::DataParallel::SettingsFromEnvironment());
  const bool writes = itk::DataParallel::IsMainProcess();
  if (itk::DataParallel::IsActive())
    std::cerr << "process " << itk::DataParallel::GetRank() << " of " << itk::DataParallel::GetWorldSize()
              << " of a data-parallel job" << (writes ? " (writes " + whatTheMainProcessWrites + ")" : "") << "\n";
  return writes;
}
} // namespace cli
} // namespace sm

#endif
