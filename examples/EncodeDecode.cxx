/*=========================================================================
 *  Example: a micrograph through the VQ-VAE and back, as one ITK pipeline.
 *
 *    ImageFileReader (a 2D gray micrograph)
 *      -> VQEncodeImageFilter (the map of codebook indices, one per f x f block)
 *      -> VQDecodeImageFilter (the micrograph the codes stand for)
 *      -> ImageFileWriter
 *
 *  It prints the index map's size, how many of the codebook's codes it uses, and the root
 *  mean square difference between the micrograph and its reconstruction (gray levels, over
 *  the pixels the codes cover). The map is what the prior learns; the reconstruction is the
 *  most any generated micrograph can resemble a real one.
 *
 *  Usage: EncodeDecode <vqvae.model> <micrograph> <reconstruction> [indexMap]
 *  e.g. after the main job:
 *    build/examples/EncodeDecode out/study/vqvae.model a.png a_reconstructed.png a_codes.nrrd
 *=========================================================================*/
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkImageRegionConstIterator.h"
#include "itkVQDecodeImageFilter.h"
#include "itkVQEncodeImageFilter.h"
#include "itkVQVAEModel.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <set>

int
main(int argc, char * argv[])
{
  if (argc < 4 || argc > 5)
  {
    std::cerr << "usage: " << argv[0] << " <vqvae.model> <micrograph> <reconstruction> [indexMap]\n";
    return EXIT_FAILURE;
  }
  using GrayType = itk::Image<unsigned char, 2>;
  using IndexType = itk::Image<unsigned short, 2>;
  try
  {
    auto model = itk::VQVAEModel::New();
    model->Read(argv[1]);

    auto reader = itk::ImageFileReader<GrayType>::New();
    reader->SetFileName(argv[2]);

    auto encode = itk::VQEncodeImageFilter<GrayType, IndexType>::New();
    encode->SetModel(model);
    encode->SetInput(reader->GetOutput());

    auto decode = itk::VQDecodeImageFilter<IndexType, GrayType>::New();
    decode->SetModel(model);
    decode->SetInput(encode->GetOutput());

    auto writer = itk::ImageFileWriter<GrayType>::New();
    writer->SetInput(decode->GetOutput());
    writer->SetFileName(argv[3]);
    writer->Update();
    if (argc == 5)
    {
      auto mapWriter = itk::ImageFileWriter<IndexType>::New();
      mapWriter->SetInput(encode->GetOutput());
      mapWriter->SetFileName(argv[4]);
      mapWriter->Update();
    }

    std::set<unsigned short> codes;
    for (itk::ImageRegionConstIterator<IndexType> it(encode->GetOutput(), encode->GetOutput()->GetBufferedRegion());
         !it.IsAtEnd();
         ++it)
      codes.insert(it.Get());
    // The reconstruction covers the micrograph's first (size / f) * f rows and columns.
    const auto   covered = decode->GetOutput()->GetBufferedRegion();
    double       sum = 0.0;
    const auto * in = reader->GetOutput();
    for (itk::ImageRegionConstIterator<GrayType> it(decode->GetOutput(), covered); !it.IsAtEnd(); ++it)
    {
      const double d = static_cast<double>(it.Get()) - static_cast<double>(in->GetPixel(it.GetIndex()));
      sum += d * d;
    }
    const auto mapSize = encode->GetOutput()->GetBufferedRegion().GetSize();
    std::cout << "index_map " << mapSize[0] << " x " << mapSize[1] << '\n'
              << "codes_used " << codes.size() << " of " << model->GetHyperparameters().CodebookSize << '\n'
              << "rms_difference " << std::sqrt(sum / covered.GetNumberOfPixels()) << '\n';
  }
  catch (const itk::ExceptionObject & e)
  {
    std::cerr << "error: " << e.GetDescription() << std::endl;
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
