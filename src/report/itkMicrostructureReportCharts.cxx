/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
// Charts (VTK context 2D, offscreen) and the patch montage (FreeType text,
// composed on the CPU).
#include "itkMicrostructureReport.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureReportDisplay.h"

#include <vtkAxis.h>
#include <vtkBrush.h>
#include <vtkChartLegend.h>
#include <vtkChartXY.h>
#include <vtkContextActor.h>
#include <vtkContextScene.h>
#include <vtkDoubleArray.h>
#include <vtkImageData.h>
#include <vtkNew.h>
#include <vtkPNGWriter.h>
#include <vtkPen.h>
#include <vtkPlotArea.h>
#include <vtkPlotLine.h>
#include <vtkPlotPoints.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkStringArray.h>
#include <vtkTable.h>
#include <vtkTextProperty.h>
#include <vtkTextRenderer.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowToImageFilter.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

namespace itk
{
namespace report
{
namespace
{
const double kNaN = std::numeric_limits<double>::quiet_NaN();

void
CheckPngPath(const std::string & png, const char * what)
{
  std::string ext = std::filesystem::path(png).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext != ".png")
  {
    itkGenericExceptionMacro(<< "The " << what << " goes to a PNG file: '" << png
                             << "' does not end in .png; give a name like figure.png.");
  }
  itk::CheckOutputPathWritable(png);
}

void
CheckSize(unsigned width, unsigned height, const char * what)
{
  if (width < 200 || height < 150 || width > 8000 || height > 8000)
  {
    itkGenericExceptionMacro(<< "The " << what << " size " << width << " x " << height
                             << " pixels is out of range: use 200..8000 x 150..8000.");
  }
}

// A table of double columns.
vtkSmartPointer<vtkTable>
MakeTable(const std::vector<std::string> & names, const std::vector<std::vector<double>> & columns)
{
  auto table = vtkSmartPointer<vtkTable>::New();
  for (std::size_t c = 0; c < names.size(); ++c)
  {
    vtkNew<vtkDoubleArray> a;
    a->SetName(names[c].c_str());
    a->SetNumberOfValues(static_cast<vtkIdType>(columns[c].size()));
    for (std::size_t i = 0; i < columns[c].size(); ++i)
    {
      a->SetValue(static_cast<vtkIdType>(i), columns[c][i]);
    }
    table->AddColumn(a);
  }
  return table;
}

void
SetColor(vtkPlot * plot, std::size_t index, unsigned char alpha = 255)
{
  const auto c = PaletteColor(index);
  plot->SetColor(c[0], c[1], c[2], alpha);
}

// A chart in an offscreen render window, styled alike for all chart types.
// No vtkContextView: its interactor (vtkXRenderWindowInteractor) is not
// needed offscreen and was seen to crash in XSync now and then under xvfb.
struct ChartCanvas
{
  vtkNew<vtkRenderWindow> Window;
  vtkNew<vtkRenderer>     Renderer;
  vtkNew<vtkContextActor> Actor;
  vtkNew<vtkChartXY>      Chart;

  ChartCanvas(unsigned width, unsigned height, const std::string & title, const std::string & xLabel,
              const std::string & yLabel)
  {
    // The shared, long-lived X connection (RequireDisplay() opened it).
    void * display = SharedXDisplay();
    if (display == nullptr)
    {
      RequireDisplay("a chart");
    }
    Window->SetDisplayId(display);
    Window->SetOffScreenRendering(1);
    Window->SetSize(static_cast<int>(width), static_cast<int>(height));
    Window->AddRenderer(Renderer);
    Renderer->SetBackground(1.0, 1.0, 1.0);
    Renderer->AddActor(Actor);
    Actor->GetScene()->SetRenderer(Renderer);
    Actor->GetScene()->AddItem(Chart);
    Chart->SetTitle(title);
    Chart->GetTitleProperties()->SetFontSize(18);
    Chart->GetTitleProperties()->SetBold(true);
    Chart->GetTitleProperties()->SetColor(0.1, 0.1, 0.1);
    Chart->SetShowLegend(false);
    for (int a : { vtkAxis::BOTTOM, vtkAxis::LEFT })
    {
      vtkAxis * axis = Chart->GetAxis(a);
      axis->SetTitle(a == vtkAxis::BOTTOM ? xLabel : yLabel);
      axis->GetTitleProperties()->SetFontSize(15);
      axis->GetTitleProperties()->SetBold(false);
      axis->GetLabelProperties()->SetFontSize(13);
      axis->GetGridPen()->SetColor(225, 225, 225, 255);
    }
  }

  void
  ShowLegend()
  {
    Chart->SetShowLegend(true);
    vtkChartLegend * legend = Chart->GetLegend();
    legend->SetLabelSize(13);
    legend->SetHorizontalAlignment(vtkChartLegend::RIGHT);
    legend->SetVerticalAlignment(vtkChartLegend::TOP);
    legend->GetBrush()->SetColor(255, 255, 255, 220);
    // Outside the plot area (the chart reserves room on the right): never over the data.
    legend->SetInline(false);
  }

  void
  SetRange(int axisId, double lo, double hi)
  {
    vtkAxis * axis = Chart->GetAxis(axisId);
    axis->SetBehavior(vtkAxis::FIXED);
    axis->SetRange(lo, hi);
  }

  // Render and write the window to `png` atomically.
  void
  Write(const std::string & png)
  {
    vtkRenderWindow * win = Window;
    win->Render();
    vtkNew<vtkWindowToImageFilter> grab;
    grab->SetInput(win);
    grab->SetInputBufferTypeToRGB();
    grab->ReadFrontBufferOff();
    grab->Update();
    itk::AtomicOutputFile out(png);
    vtkNew<vtkPNGWriter>  writer;
    writer->SetFileName(out.GetTemporaryPath().c_str());
    writer->SetInputConnection(grab->GetOutputPort());
    writer->Write();
    if (writer->GetErrorCode() != 0 || !std::filesystem::exists(out.GetTemporaryPath()))
    {
      itkGenericExceptionMacro(<< "Could not write the chart '" << png << "' (VTK PNG writer error "
                               << writer->GetErrorCode() << "): check the disk space and permissions.");
    }
    out.Commit();
  }
};

// Axis range from finite values, with a 5 % margin (a degenerate range is widened).
void
PaddedRange(const std::vector<double> & values, double & lo, double & hi, bool log)
{
  lo = std::numeric_limits<double>::infinity();
  hi = -lo;
  for (const double v : values)
  {
    if (std::isfinite(v) && (!log || v > 0.0))
    {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo))
  {
    lo = 0.0;
    hi = 1.0;
    return;
  }
  if (log)
  {
    const double a = std::log10(lo), b = std::log10(hi);
    const double m = b > a ? 0.05 * (b - a) : 0.5;
    lo = std::pow(10.0, a - m);
    hi = std::pow(10.0, b + m);
    return;
  }
  const double span = hi - lo;
  const double m = span > 0.0 ? 0.05 * span : (lo != 0.0 ? 0.1 * std::abs(lo) : 1.0);
  lo -= m;
  hi += m;
}
} // namespace

// ---------------------------------------------------------------- box plot
void
WriteBoxPlot(const std::string & png, const std::string & title, const std::string & yLabel, const BoxPlotData & data,
             unsigned width, unsigned height)
{
  const std::size_t G = data.Groups.size();
  const std::size_t S = data.SeriesNames.size();
  if (G == 0 || S == 0)
  {
    itkGenericExceptionMacro(<< "Box plot '" << title << "': no groups or no series; give at least one of each.");
  }
  if (data.Values.size() != S)
  {
    itkGenericExceptionMacro(<< "Box plot '" << title << "': Values has " << data.Values.size()
                             << " series but SeriesNames has " << S << "; give Values[series][group].");
  }
  bool any = false;
  for (std::size_t s = 0; s < S; ++s)
  {
    if (data.Values[s].size() != G)
    {
      itkGenericExceptionMacro(<< "Box plot '" << title << "': series '" << data.SeriesNames[s] << "' has "
                               << data.Values[s].size() << " groups but Groups has " << G
                               << "; give one value list per group (empty for none).");
    }
    for (const auto & v : data.Values[s])
    {
      any = any || std::any_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
    }
  }
  if (!any)
  {
    itkGenericExceptionMacro(<< "Box plot '" << title << "': no finite value to draw.");
  }
  CheckSize(width, height, "box plot");
  CheckPngPath(png, "box plot");
  RequireDisplay("the box plot '" + png + "'");

  ChartCanvas  canvas(width, height, title, data.GroupLabel, yLabel);
  vtkChartXY * chart = canvas.Chart;

  const double        band = 0.8;                           // of the unit group spacing
  const double        slot = band / static_cast<double>(S); // per series
  const double        boxW = 0.75 * slot;
  std::vector<double> allY;
  for (std::size_t s = 0; s < S; ++s)
  {
    std::vector<double> segX, segY;   // whiskers and caps (pairs of points)
    std::vector<double> outX, outY;   // Tukey outliers
    std::vector<double> medX, medY;   // medians (pairs)
    std::vector<double> edgeX, edgeY; // box outlines (pairs)
    bool                labelled = false;
    for (std::size_t g = 0; g < G; ++g)
    {
      std::vector<double> v;
      for (const double x : data.Values[s][g])
      {
        if (std::isfinite(x))
        {
          v.push_back(x);
        }
      }
      if (v.empty())
      {
        continue;
      }
      std::sort(v.begin(), v.end());
      const auto   q = Quartiles(v);
      const double iqr = q[2] - q[0];
      double       lo = v.front(), hi = v.back();
      if (data.TukeyWhiskers)
      {
        const double loFence = q[0] - 1.5 * iqr, hiFence = q[2] + 1.5 * iqr;
        lo = *std::find_if(v.begin(), v.end(), [&](double x) { return x >= loFence; });
        hi = *std::find_if(v.rbegin(), v.rend(), [&](double x) { return x <= hiFence; });
        lo = std::min(lo, q[0]);
        hi = std::max(hi, q[2]);
      }
      const double c = static_cast<double>(g) - band / 2 + (static_cast<double>(s) + 0.5) * slot;
      const double l = c - boxW / 2, r = c + boxW / 2, cap = boxW / 4;
      for (const double x : v)
      {
        if (x < lo || x > hi)
        {
          outX.push_back(c);
          outY.push_back(x);
        }
      }
      allY.insert(allY.end(), { lo, hi, q[0], q[2] });
      allY.insert(allY.end(), outY.begin(), outY.end());
      // Filled box.
      // Three points: VTK 9.1's vtkPlotArea leaves a two-point area unfilled.
      auto table = MakeTable({ "x", "q1", "q3" }, { { l, c, r }, { q[0], q[0], q[0] }, { q[2], q[2], q[2] } });
      vtkNew<vtkPlotArea> area;
      area->SetInputData(table);
      area->SetInputArray(0, "x");
      area->SetInputArray(1, "q1");
      area->SetInputArray(2, "q3");
      SetColor(area, s, 200);
      area->SetLabel(data.SeriesNames[s]);
      area->SetLegendVisibility(!labelled);
      labelled = true;
      chart->AddPlot(area);
      // Outline, whiskers, caps, median.
      edgeX.insert(edgeX.end(), { l, r, r, r, r, l, l, l });
      edgeY.insert(edgeY.end(), { q[0], q[0], q[0], q[2], q[2], q[2], q[2], q[0] });
      segX.insert(segX.end(), { c, c, c, c, c - cap, c + cap, c - cap, c + cap });
      segY.insert(segY.end(), { lo, q[0], q[2], hi, lo, lo, hi, hi });
      medX.insert(medX.end(), { l, r });
      medY.insert(medY.end(), { q[1], q[1] });
    }
    auto addSegments = [&](const std::vector<double> & x,
                           const std::vector<double> & y,
                           unsigned char               r,
                           unsigned char               gc,
                           unsigned char               b,
                           float                       w) {
      if (x.empty())
      {
        return;
      }
      vtkNew<vtkPlotLine> line;
      line->SetInputData(MakeTable({ "x", "y" }, { x, y }), 0, 1);
      line->SetPolyLine(false);
      line->SetColor(r, gc, b, 255);
      line->SetWidth(w);
      line->SetLegendVisibility(false);
      chart->AddPlot(line);
    };
    const auto col = PaletteColor(s);
    const auto dark = [](unsigned char v) { return static_cast<unsigned char>(v * 0.6); };
    addSegments(edgeX, edgeY, dark(col[0]), dark(col[1]), dark(col[2]), 1.5f);
    addSegments(segX, segY, dark(col[0]), dark(col[1]), dark(col[2]), 1.5f);
    addSegments(medX, medY, 0, 0, 0, 2.5f);
    if (!outX.empty())
    {
      vtkNew<vtkPlotPoints> pts;
      pts->SetInputData(MakeTable({ "x", "y" }, { outX, outY }), 0, 1);
      pts->SetMarkerStyle(vtkPlotPoints::CIRCLE);
      pts->SetMarkerSize(5.0f);
      SetColor(pts, s);
      pts->SetLegendVisibility(false);
      chart->AddPlot(pts);
    }
  }
  // Axes: groups as labelled ticks.
  vtkNew<vtkDoubleArray> ticks;
  vtkNew<vtkStringArray> labels;
  std::size_t            longest = 0;
  for (std::size_t g = 0; g < G; ++g)
  {
    ticks->InsertNextValue(static_cast<double>(g));
    labels->InsertNextValue(data.Groups[g]);
    longest = std::max(longest, data.Groups[g].size());
  }
  vtkAxis * xAxis = chart->GetAxis(vtkAxis::BOTTOM);
  xAxis->SetCustomTickPositions(ticks, labels);
  xAxis->SetGridVisible(false);
  if (static_cast<double>(G * longest) * 8.0 > 0.8 * width)
  {
    // Too long to sit side by side: turned upright (a slant would run off the left edge).
    xAxis->GetLabelProperties()->SetOrientation(90.0);
    xAxis->GetLabelProperties()->SetJustificationToRight();
    xAxis->GetLabelProperties()->SetVerticalJustificationToCentered();
  }
  canvas.SetRange(vtkAxis::BOTTOM, -0.5, static_cast<double>(G) - 0.5);
  double lo = 0.0, hi = 1.0;
  PaddedRange(allY, lo, hi, false);
  if (std::isfinite(data.YMin))
  {
    lo = data.YMin;
  }
  if (std::isfinite(data.YMax))
  {
    hi = data.YMax;
  }
  if (!(hi > lo))
  {
    itkGenericExceptionMacro(<< "Box plot '" << title << "': YMin " << lo << " is not below YMax " << hi << ".");
  }
  canvas.SetRange(vtkAxis::LEFT, lo, hi);
  if (S > 1)
  {
    canvas.ShowLegend();
  }
  canvas.Write(png);
}

// ---------------------------------------------------------------- curves
void
WriteCurves(const std::string & png, const std::string & title, const std::string & xLabel, const std::string & yLabel,
            const std::vector<Curve> & curves, bool logX, unsigned width, unsigned height, bool logY)
{
  if (curves.empty())
  {
    itkGenericExceptionMacro(<< "Curves '" << title << "': no curve given.");
  }
  std::vector<double> allX, allY;
  for (const auto & c : curves)
  {
    const bool band = !c.Lower.empty() || !c.Upper.empty();
    if (c.Mean.size() != c.X.size() || (band && (c.Lower.size() != c.X.size() || c.Upper.size() != c.X.size())))
    {
      itkGenericExceptionMacro(<< "Curve '" << c.Label << "' in '" << title << "': X has " << c.X.size()
                               << " values, Mean " << c.Mean.size() << ", Lower " << c.Lower.size() << ", Upper "
                               << c.Upper.size() << "; give Mean (and Lower/Upper, or neither) one per X.");
    }
    std::size_t finite = 0;
    for (std::size_t i = 0; i < c.X.size(); ++i)
    {
      if (!std::isfinite(c.X[i]) || !std::isfinite(c.Mean[i]))
      {
        continue;
      }
      if ((logX && c.X[i] <= 0.0) || (logY && c.Mean[i] <= 0.0) ||
          (logY && band && (c.Lower[i] <= 0.0 || c.Upper[i] <= 0.0)))
      {
        itkGenericExceptionMacro(<< "Curve '" << c.Label << "' in '" << title << "' has a value <= 0 at point " << i
                                 << " on a logarithmic axis: drop such points or use a linear axis.");
      }
      ++finite;
      allX.push_back(c.X[i]);
      allY.push_back(c.Mean[i]);
      if (band)
      {
        allY.push_back(c.Lower[i]);
        allY.push_back(c.Upper[i]);
      }
    }
    if (finite == 0)
    {
      itkGenericExceptionMacro(<< "Curve '" << c.Label << "' in '" << title << "' has no finite point.");
    }
  }
  CheckSize(width, height, "curve chart");
  CheckPngPath(png, "curve chart");
  RequireDisplay("the curve chart '" + png + "'");

  ChartCanvas  canvas(width, height, title, xLabel, yLabel);
  vtkChartXY * chart = canvas.Chart;
  bool         labels = false;
  // Bands first, so that every line is drawn over every band.
  for (std::size_t i = 0; i < curves.size(); ++i)
  {
    const auto & c = curves[i];
    if (c.Lower.empty())
    {
      continue;
    }
    std::vector<double> x, lo, hi;
    for (std::size_t j = 0; j < c.X.size(); ++j)
    {
      if (std::isfinite(c.X[j]) && std::isfinite(c.Lower[j]) && std::isfinite(c.Upper[j]))
      {
        x.push_back(c.X[j]);
        lo.push_back(c.Lower[j]);
        hi.push_back(c.Upper[j]);
      }
    }
    if (x.empty())
    {
      continue;
    }
    vtkNew<vtkPlotArea> area;
    area->SetInputData(MakeTable({ "x", "lower", "upper" }, { x, lo, hi }));
    area->SetInputArray(0, "x");
    area->SetInputArray(1, "lower");
    area->SetInputArray(2, "upper");
    SetColor(area, i, 70);
    area->SetLegendVisibility(false);
    chart->AddPlot(area);
  }
  for (std::size_t i = 0; i < curves.size(); ++i)
  {
    const auto &        c = curves[i];
    std::vector<double> x, y;
    for (std::size_t j = 0; j < c.X.size(); ++j)
    {
      if (std::isfinite(c.X[j]) && std::isfinite(c.Mean[j]))
      {
        x.push_back(c.X[j]);
        y.push_back(c.Mean[j]);
      }
    }
    vtkNew<vtkPlotLine> line;
    line->SetInputData(MakeTable({ "x", "y" }, { x, y }), 0, 1);
    SetColor(line, i);
    line->SetWidth(2.5f);
    if (c.Dashed)
    {
      line->GetPen()->SetLineType(vtkPen::DASH_LINE);
    }
    line->SetLabel(c.Label);
    line->SetLegendVisibility(!c.Label.empty());
    labels = labels || !c.Label.empty();
    chart->AddPlot(line);
  }
  double lo = 0.0, hi = 1.0;
  PaddedRange(allX, lo, hi, logX);
  if (!logX)
  {
    // Curves start at their first point: no margin on x.
    lo = *std::min_element(allX.begin(), allX.end());
    hi = *std::max_element(allX.begin(), allX.end());
    if (!(hi > lo))
    {
      lo -= 0.5;
      hi += 0.5;
    }
  }
  canvas.SetRange(vtkAxis::BOTTOM, lo, hi);
  chart->GetAxis(vtkAxis::BOTTOM)->SetLogScale(logX);
  PaddedRange(allY, lo, hi, logY);
  canvas.SetRange(vtkAxis::LEFT, lo, hi);
  chart->GetAxis(vtkAxis::LEFT)->SetLogScale(logY);
  if (labels)
  {
    canvas.ShowLegend();
  }
  canvas.Write(png);
}

// ---------------------------------------------------------------- scatter
void
WriteScatter(const std::string & png, const std::string & title, const std::string & xLabel, const std::string & yLabel,
             const ScatterData & data, unsigned width, unsigned height, float markerSize)
{
  if (data.X.size() != data.Y.size() || (!data.Group.empty() && data.Group.size() != data.X.size()))
  {
    itkGenericExceptionMacro(<< "Scatter '" << title << "': X has " << data.X.size() << " values, Y " << data.Y.size()
                             << ", Group " << data.Group.size() << "; give one Y (and one Group, or none) per X.");
  }
  std::vector<std::string>                        order;
  std::map<std::string, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < data.X.size(); ++i)
  {
    if (!std::isfinite(data.X[i]) || !std::isfinite(data.Y[i]))
    {
      continue;
    }
    const std::string g = data.Group.empty() ? std::string() : data.Group[i];
    auto              it = members.find(g);
    if (it == members.end())
    {
      order.push_back(g);
      it = members.emplace(g, std::vector<std::size_t>()).first;
    }
    it->second.push_back(i);
  }
  if (order.empty())
  {
    itkGenericExceptionMacro(<< "Scatter '" << title << "': no point with finite X and Y.");
  }
  if (!(markerSize > 0.0f && markerSize < 100.0f))
  {
    itkGenericExceptionMacro(<< "Scatter '" << title << "': marker size " << markerSize << " px; use 1 to 100.");
  }
  CheckSize(width, height, "scatter plot");
  CheckPngPath(png, "scatter plot");
  RequireDisplay("the scatter plot '" + png + "'");

  ChartCanvas         canvas(width, height, title, xLabel, yLabel);
  std::vector<double> allX, allY;
  for (std::size_t k = 0; k < order.size(); ++k)
  {
    std::vector<double> x, y;
    for (const std::size_t i : members[order[k]])
    {
      x.push_back(data.X[i]);
      y.push_back(data.Y[i]);
    }
    allX.insert(allX.end(), x.begin(), x.end());
    allY.insert(allY.end(), y.begin(), y.end());
    vtkNew<vtkPlotPoints> pts;
    pts->SetInputData(MakeTable({ "x", "y" }, { x, y }), 0, 1);
    pts->SetMarkerStyle(vtkPlotPoints::CIRCLE);
    pts->SetMarkerSize(markerSize);
    SetColor(pts, k, 210);
    pts->SetLabel(order[k]);
    pts->SetLegendVisibility(!order[k].empty());
    canvas.Chart->AddPlot(pts);
  }
  double lo = 0.0, hi = 1.0;
  PaddedRange(allX, lo, hi, false);
  canvas.SetRange(vtkAxis::BOTTOM, lo, hi);
  PaddedRange(allY, lo, hi, false);
  canvas.SetRange(vtkAxis::LEFT, lo, hi);
  if (order.size() > 1 || !order[0].empty())
  {
    canvas.ShowLegend();
  }
  canvas.Write(png);
}

// ---------------------------------------------------------------- montage
namespace
{
struct Rgb
{
  unsigned                   Width{ 0 }, Height{ 0 };
  std::vector<unsigned char> Pixels; // row-major from the top, RGB

  void
  Blend(int x, int y, const unsigned char c[3], double alpha)
  {
    if (x < 0 || y < 0 || x >= static_cast<int>(Width) || y >= static_cast<int>(Height))
    {
      return;
    }
    unsigned char * p = &Pixels[3 * (static_cast<std::size_t>(y) * Width + static_cast<std::size_t>(x))];
    for (int k = 0; k < 3; ++k)
    {
      p[k] = static_cast<unsigned char>(std::lround((1.0 - alpha) * p[k] + alpha * c[k]));
    }
  }
};

// Text rendered by FreeType into an RGBA image (no OpenGL, no display).
class TextStamp
{
public:
  TextStamp(const std::string & text, int fontSize, bool bold)
  {
    if (text.empty())
    {
      return;
    }
    vtkTextRenderer * renderer = vtkTextRenderer::GetInstance();
    if (renderer == nullptr)
    {
      itkGenericExceptionMacro(<< "VTK has no text renderer (vtkRenderingFreeType missing): cannot label the montage.");
    }
    vtkNew<vtkTextProperty> prop;
    prop->SetFontFamilyToArial();
    prop->SetFontSize(fontSize);
    prop->SetBold(bold);
    prop->SetColor(0.15, 0.15, 0.15);
    prop->SetBackgroundOpacity(0.0);
    prop->SetJustificationToLeft();
    prop->SetVerticalJustificationToBottom();
    int dims[2] = { 0, 0 };
    if (!renderer->RenderString(prop, text, m_Image, dims, 72))
    {
      itkGenericExceptionMacro(<< "VTK could not render the montage label '" << text << "'.");
    }
    m_Width = dims[0];
    m_Height = dims[1];
  }
  int
  Width() const
  {
    return m_Width;
  }
  int
  Height() const
  {
    return m_Height;
  }
  // Draw with the top-left corner of the text's tight box at (x, y) (image rows go down).
  void
  Draw(Rgb & canvas, int x, int y) const
  {
    if (m_Width <= 0 || m_Height <= 0)
    {
      return;
    }
    int ext[6];
    m_Image->GetExtent(ext);
    const int nc = m_Image->GetNumberOfScalarComponents();
    for (int j = 0; j < m_Height; ++j)
    {
      for (int i = 0; i < m_Width; ++i)
      {
        // vtkImageData rows go up: text row j from the top is image row (ext[2] + m_Height - 1 - j).
        const int iy = ext[2] + m_Height - 1 - j;
        const int ix = ext[0] + i;
        if (ix > ext[1] || iy > ext[3] || iy < ext[2])
        {
          continue;
        }
        auto *       px = static_cast<unsigned char *>(m_Image->GetScalarPointer(ix, iy, 0));
        const double alpha = nc == 4 ? px[3] / 255.0 : 1.0;
        if (alpha > 0.0)
        {
          canvas.Blend(x + i, y + j, px, alpha);
        }
      }
    }
  }

private:
  vtkNew<vtkImageData> m_Image;
  int                  m_Width{ 0 };
  int                  m_Height{ 0 };
};
} // namespace

void
WriteMontage(const std::string & png, const std::vector<std::string> & rowLabels,
             const std::vector<std::vector<MontageImageType::ConstPointer>> & rows,
             const std::vector<std::string> & columnHeaders, unsigned gutter)
{
  if (!rowLabels.empty() && rowLabels.size() != rows.size())
  {
    itkGenericExceptionMacro(<< "Montage: " << rowLabels.size() << " row labels for " << rows.size()
                             << " rows; give one label per row, or none.");
  }
  unsigned    cellW = 0, cellH = 0;
  std::size_t nCols = columnHeaders.size();
  for (const auto & row : rows)
  {
    nCols = std::max(nCols, row.size());
    for (const auto & im : row)
    {
      if (im)
      {
        const auto size = im->GetLargestPossibleRegion().GetSize();
        cellW = std::max<unsigned>(cellW, static_cast<unsigned>(size[0]));
        cellH = std::max<unsigned>(cellH, static_cast<unsigned>(size[1]));
      }
    }
  }
  if (cellW == 0 || cellH == 0)
  {
    itkGenericExceptionMacro(<< "Montage '" << png << "': no patch to show; give at least one image.");
  }
  if (gutter > 200)
  {
    itkGenericExceptionMacro(<< "Montage gutter " << gutter << " px is too wide: use 0 to 200.");
  }
  CheckPngPath(png, "montage");

  const int                               fontSize = 14;
  std::vector<std::unique_ptr<TextStamp>> labels, headers;
  int                                     labelW = 0, headerH = 0;
  for (const auto & s : rowLabels)
  {
    labels.emplace_back(new TextStamp(s, fontSize, true));
    labelW = std::max(labelW, labels.back()->Width());
  }
  for (const auto & s : columnHeaders)
  {
    headers.emplace_back(new TextStamp(s, fontSize, false));
    headerH = std::max(headerH, headers.back()->Height());
  }
  const int g = static_cast<int>(gutter);
  const int left = g + (labelW > 0 ? labelW + 8 : 0);
  const int top = g + (headerH > 0 ? headerH + 6 : 0);
  const int W = left + static_cast<int>(nCols) * (static_cast<int>(cellW) + g);
  const int H = top + static_cast<int>(rows.size()) * (static_cast<int>(cellH) + g);
  if (static_cast<long long>(W) * H > 400LL * 1000 * 1000)
  {
    itkGenericExceptionMacro(<< "Montage '" << png << "' would be " << W << " x " << H
                             << " pixels: show fewer or smaller patches.");
  }
  Rgb canvas;
  canvas.Width = static_cast<unsigned>(W);
  canvas.Height = static_cast<unsigned>(H);
  canvas.Pixels.assign(static_cast<std::size_t>(W) * H * 3, 255);
  for (std::size_t r = 0; r < rows.size(); ++r)
  {
    const int y0 = top + static_cast<int>(r) * (static_cast<int>(cellH) + g);
    for (std::size_t c = 0; c < rows[r].size(); ++c)
    {
      const auto & im = rows[r][c];
      if (!im)
      {
        continue;
      }
      const auto size = im->GetLargestPossibleRegion().GetSize();
      const auto index = im->GetLargestPossibleRegion().GetIndex();
      const int  x0 = left + static_cast<int>(c) * (static_cast<int>(cellW) + g) +
                     (static_cast<int>(cellW) - static_cast<int>(size[0])) / 2;
      const int ys = y0 + (static_cast<int>(cellH) - static_cast<int>(size[1])) / 2;
      for (unsigned j = 0; j < size[1]; ++j)
      {
        for (unsigned i = 0; i < size[0]; ++i)
        {
          MontageImageType::IndexType idx = { { index[0] + static_cast<itk::IndexValueType>(i),
                                                index[1] + static_cast<itk::IndexValueType>(j) } };
          const unsigned char         v = im->GetPixel(idx);
          unsigned char *             p =
            &canvas.Pixels[3 * (static_cast<std::size_t>(ys + static_cast<int>(j)) * W + (x0 + static_cast<int>(i)))];
          p[0] = p[1] = p[2] = v;
        }
      }
    }
    if (r < labels.size())
    {
      const int ty = y0 + (static_cast<int>(cellH) - labels[r]->Height()) / 2;
      labels[r]->Draw(canvas, g, ty);
    }
  }
  for (std::size_t c = 0; c < headers.size(); ++c)
  {
    const int x =
      left + static_cast<int>(c) * (static_cast<int>(cellW) + g) + (static_cast<int>(cellW) - headers[c]->Width()) / 2;
    headers[c]->Draw(canvas, std::max(0, x), g + (headerH - headers[c]->Height()));
  }

  // Write through VTK's PNG writer (rows of vtkImageData go up).
  vtkNew<vtkImageData> image;
  image->SetDimensions(W, H, 1);
  image->AllocateScalars(VTK_UNSIGNED_CHAR, 3);
  auto * dst = static_cast<unsigned char *>(image->GetScalarPointer());
  for (int y = 0; y < H; ++y)
  {
    std::copy_n(&canvas.Pixels[3 * static_cast<std::size_t>(y) * W],
                3 * static_cast<std::size_t>(W),
                dst + 3 * static_cast<std::size_t>(H - 1 - y) * W);
  }
  itk::AtomicOutputFile out(png);
  vtkNew<vtkPNGWriter>  writer;
  writer->SetFileName(out.GetTemporaryPath().c_str());
  writer->SetInputData(image);
  writer->Write();
  if (writer->GetErrorCode() != 0 || !std::filesystem::exists(out.GetTemporaryPath()))
  {
    itkGenericExceptionMacro(<< "Could not write the montage '" << png << "': check the disk space and permissions.");
  }
  out.Commit();
}

} // namespace report
} // namespace itk
