/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
// Built as an ITK module (in ITK's source tree, or against an ITK build tree through
// ITKModuleExternal) this tree has no UseITK registration manager, so the image formats of
// itk-module.cmake's PRIVATE_DEPENDS are registered here, when a program that links this object
// starts: every CLI, test and example of the tree does (src/CMakeLists.txt). As UseITK's manager does,
// for one program.
#include "itkBMPImageIOFactory.h"
#include "itkJPEGImageIOFactory.h"
#include "itkMetaImageIOFactory.h"
#include "itkNiftiImageIOFactory.h"
#include "itkNrrdImageIOFactory.h"
#include "itkPNGImageIOFactory.h"
#include "itkTIFFImageIOFactory.h"

namespace
{
const struct ImageIORegistration
{
  ImageIORegistration()
  {
    itk::PNGImageIOFactory::RegisterOneFactory();
    itk::NrrdImageIOFactory::RegisterOneFactory();
    itk::MetaImageIOFactory::RegisterOneFactory();
    itk::NiftiImageIOFactory::RegisterOneFactory();
    itk::TIFFImageIOFactory::RegisterOneFactory();
    itk::JPEGImageIOFactory::RegisterOneFactory();
    itk::BMPImageIOFactory::RegisterOneFactory();
  }
} imageIORegistration;
} // namespace
