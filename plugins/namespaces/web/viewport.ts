// Pan and zoom of the viewer as the SVG's viewBox, mirrored into data attributes
// (data-zoom, data-view-x, data-view-y, data-view-width, data-view-height) so a page or a test
// can read exactly what is shown.

const MIN_ZOOM = 0.05;
const MAX_ZOOM = 8;

export class Viewport {
  zoom = 1;
  /** The picture's coordinates at the top-left corner of the view. */
  x = 0;
  y = 0;
  private pictureWidth = 1;
  private pictureHeight = 1;

  constructor(private readonly svg: SVGSVGElement) {}

  /** The view's size in screen pixels. */
  private screen(): { width: number; height: number } {
    const rect = this.svg.getBoundingClientRect();
    return { width: rect.width > 0 ? rect.width : 800, height: rect.height > 0 ? rect.height : 600 };
  }

  setPicture(width: number, height: number): void {
    this.pictureWidth = Math.max(1, width);
    this.pictureHeight = Math.max(1, height);
  }

  apply(): void {
    const { width, height } = this.screen();
    const w = width / this.zoom;
    const h = height / this.zoom;
    this.svg.setAttribute('viewBox', `${round(this.x)} ${round(this.y)} ${round(w)} ${round(h)}`);
    this.svg.dataset.zoom = String(round(this.zoom));
    this.svg.dataset.viewX = String(round(this.x));
    this.svg.dataset.viewY = String(round(this.y));
    this.svg.dataset.viewWidth = String(round(w));
    this.svg.dataset.viewHeight = String(round(h));
  }

  /** The start view: the whole width when it fits at 50 % or more (never above 100 %), from the top. */
  home(): void {
    const { width } = this.screen();
    this.zoom = clamp(Math.min(1, Math.max(0.5, width / this.pictureWidth)));
    const viewWidth = width / this.zoom;
    this.x = this.pictureWidth < viewWidth ? (this.pictureWidth - viewWidth) / 2 : 0;
    this.y = 0;
    this.apply();
  }

  /** The whole picture in view. */
  fit(): void {
    const { width, height } = this.screen();
    this.zoom = clamp(Math.min(width / this.pictureWidth, height / this.pictureHeight) * 0.98);
    this.x = (this.pictureWidth - width / this.zoom) / 2;
    this.y = (this.pictureHeight - height / this.zoom) / 2;
    this.apply();
  }

  /** Zoom by `factor` keeping the picture's point under screen point (sx, sy) in place. */
  zoomAt(factor: number, sx: number, sy: number): void {
    const next = clamp(this.zoom * factor);
    const px = this.x + sx / this.zoom;
    const py = this.y + sy / this.zoom;
    this.zoom = next;
    this.x = px - sx / next;
    this.y = py - sy / next;
    this.apply();
  }

  /** Zoom about the middle of the view. */
  zoomBy(factor: number): void {
    const { width, height } = this.screen();
    this.zoomAt(factor, width / 2, height / 2);
  }

  /** Back to 100 %, about the middle of the view. */
  resetZoom(): void {
    this.zoomBy(1 / this.zoom);
  }

  /** Move the picture by screen pixels (a drag). */
  panBy(dx: number, dy: number): void {
    this.x -= dx / this.zoom;
    this.y -= dy / this.zoom;
    this.apply();
  }

  /** Put the picture's point (px, py) in the middle of the view. */
  centreOn(px: number, py: number): void {
    const { width, height } = this.screen();
    this.x = px - width / this.zoom / 2;
    this.y = py - height / this.zoom / 2;
    this.apply();
  }
}

function clamp(zoom: number): number {
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
