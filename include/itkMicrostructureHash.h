/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureHash_h
#define itkMicrostructureHash_h

#include "StochasticMicrostructureExport.h"

#include <cstdint>
#include <string_view>

namespace itk
{
/** The offset basis of the published 64-bit FNV-1a hash (Fowler, Noll, Vo): 14695981039346656037,
 * 0xcbf29ce484222325. Started from it, MicrostructureHash() gives the published FNV-1a 64 values
 * ("" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c, "foobar" -> 85944171f73967e8).
 * \ingroup StochasticMicrostructure */
constexpr uint64_t FNV1a64OffsetBasis = 14695981039346656037ull;

/** The starting value of every hash this module writes: 1469598103934665603
 * (0x14650fb0739d0383), the published FNV-1a 64 offset basis with its last decimal digit lost
 * when the module first typed it. The model files' checksums (header_fnv1a64,
 * <section>_fnv1a64), the prior's cache fingerprints and the study's step stamps are hashes
 * started from it, so it stays: a file or stamp written before keeps matching. These hashes are
 * therefore not the published FNV-1a 64 values ("" -> 14650fb0739d0383).
 * \ingroup StochasticMicrostructure */
constexpr uint64_t MicrostructureHashOffsetBasis = 1469598103934665603ull;

/** The module's 64-bit hash of `bytes`: FNV-1a (per byte, xor then multiply by the FNV prime
 * 1099511628211, modulo 2^64) started from `hash`. By default it starts from
 * MicrostructureHashOffsetBasis, as every hash the module writes; FNV1a64OffsetBasis gives the
 * published FNV-1a 64. Hashing in pieces, each piece starting from the previous result, gives the
 * hash of the whole. Not a cryptographic hash: it finds damage and changes, not tampering.
 * \ingroup StochasticMicrostructure */
StochasticMicrostructure_EXPORT uint64_t
MicrostructureHash(std::string_view bytes, uint64_t hash = MicrostructureHashOffsetBasis);
} // end namespace itk

#endif // itkMicrostructureHash_h
