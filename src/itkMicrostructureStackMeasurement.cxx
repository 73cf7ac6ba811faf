/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureStackMeasurement.h"

namespace itk
{
std::vector<std::string>
MicrostructureSliceMeasurement::ColumnNames()
{
  return { "slice",
           "otsu_threshold",
           "volume_fraction",
           "mean_free_path_h_px",
           "mean_free_path_v_px",
           "mean_free_path_px",
           "mean_free_path_h_um",
           "mean_free_path_v_um",
           "mean_free_path_um",
           "intercepts_h",
           "intercepts_v",
           "line_length_h_px",
           "line_length_v_px",
           "foreground_line_length_h_px",
           "foreground_line_length_v_px",
           "mean_chord_foreground_h_px",
           "mean_chord_foreground_v_px",
           "mean_chord_background_h_px",
           "mean_chord_background_v_px",
           "grain_size_number",
           "particles_counted",
           "particle_density_per_um2",
           "particle_mean_diameter_px",
           "particle_mean_diameter_um" };
}

std::vector<std::string>
MicrostructureSliceMeasurement::ToRow() const
{
  const auto f = [](double v) { return MicrostructureTable::FormatNumber(v); };
  return { std::to_string(SliceIndex),
           f(OtsuThreshold),
           f(VolumeFraction),
           f(MeanFreePathHorizontal),
           f(MeanFreePathVertical),
           f(MeanFreePath),
           f(MeanFreePathHorizontalPhysical),
           f(MeanFreePathVerticalPhysical),
           f(MeanFreePathPhysical),
           f(InterceptCountHorizontal),
           f(InterceptCountVertical),
           f(TestLineLengthHorizontal),
           f(TestLineLengthVertical),
           f(ForegroundLineLengthHorizontal),
           f(ForegroundLineLengthVertical),
           f(MeanChordLengthForegroundHorizontal),
           f(MeanChordLengthForegroundVertical),
           f(MeanChordLengthBackgroundHorizontal),
           f(MeanChordLengthBackgroundVertical),
           f(GrainSizeNumber),
           f(ParticlesCounted),
           f(ParticleDensityPhysical),
           f(MeanParticleDiameter),
           f(MeanParticleDiameterPhysical) };
}

MicrostructureTable
MicrostructureMeasurementsToTable(const std::vector<MicrostructureSliceMeasurement> & measurements)
{
  MicrostructureTable table(MicrostructureSliceMeasurement::ColumnNames());
  for (const auto & m : measurements)
  {
    table.AddRow(m.ToRow());
  }
  return table;
}
} // end namespace itk
