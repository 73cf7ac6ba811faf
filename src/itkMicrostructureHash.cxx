/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureHash.h"

namespace itk
{
uint64_t
MicrostructureHash(std::string_view bytes, uint64_t hash)
{
  for (const char c : bytes)
  {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}
} // end namespace itk
