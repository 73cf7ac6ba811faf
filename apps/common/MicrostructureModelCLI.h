/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef MicrostructureModelCLI_h
#define MicrostructureModelCLI_h

// For the CLIs that link the LibTorch part of the module (the models live there): header-only, so that
// MicrostructureCLICommon, which every CLI links, stays free of it.
#include "MicrostructureCLI.h"
#include "itkMicrostructureIO.h"
#include "itkNetworkModelBase.h"
#include "itkVQVAEModel.h"

#include <iostream>
#include <stdexcept>
#include <string>

namespace sm
{
namespace cli
{
/** The body of a CLI that runs the VQ-VAE of --model (on --device) over --input into --output: refuses a
 * missing --model, an output it cannot write and an input it cannot read before the model is read; then
 * run(model, progress, whether the input is a 3D stack) with the progress at 0.1. */
template <typename TRun>
void
RunWithVQVAEModel(const Module & m, const std::string & name, const std::string & comment, TRun run)
{
  if (m.Get("model").empty())
    throw std::invalid_argument("give the model file with --model");
  itk::CheckOutputPathWritable(m.Get("output"));
  const bool stack = IsImageStack(m.Get("input"));
  Progress   progress(name, comment);
  auto       model = itk::VQVAEModel::New();
  model->SetDevice(m.Get("device"));
  model->Read(m.Get("model"));
  progress.Update(0.1);
  run(model.GetPointer(), progress, stack);
  progress.End();
}

/** The end of a training CLI: the process that writes (rank 0 of a data-parallel job, or the only one)
 * writes the trained model to output and says so; every process ends its progress. Returns whether
 * this process wrote it. */
inline bool
WriteTrainedModel(const itk::NetworkModelBase & model, const std::string & output, Progress & progress, bool writes)
{
  if (writes)
    model.Write(output);
  progress.End();
  if (writes)
    std::cerr << "wrote " << output << "\n";
  return writes;
}
} // namespace cli
} // namespace sm

#endif
