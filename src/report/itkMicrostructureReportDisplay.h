/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureReportDisplay_h
#define itkMicrostructureReportDisplay_h

#include <string>

namespace itk
{
namespace report
{
/** Private to the report library. The process's X connection (an Xlib
 * `Display *`) to $DISPLAY, opened at the first call and kept open for the
 * life of the process; nullptr (with the reason in `why`) when DISPLAY is
 * unset or cannot be opened. Render windows are given this connection
 * (vtkRenderWindow::SetDisplayId), so they do not open and close their own:
 * Xvfb resets when its last client leaves and refuses connections meanwhile. */
void *
SharedXDisplay(std::string * why = nullptr);
} // namespace report
} // namespace itk

#endif
