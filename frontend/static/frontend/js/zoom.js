// Zoom and pan inside the fixed image box: the image is shown whole first; the wheel zooms
// around the pointer, dragging pans, and toggle() switches between whole and 1:1 (one image
// pixel per screen pixel). Only a CSS transform changes, so nothing around the box moves.

const MAX_SCALE = 16;

export class ZoomPan {
  /** ``box`` is the fixed-size element holding the image; ``onChange(text)`` hears the level. */
  constructor(box, onChange = () => {}) {
    this.box = box;
    this.onChange = onChange;
    this.image = null;
    this.scale = 1;
    this.x = 0;
    this.y = 0;
    box.addEventListener("wheel", (event) => this.#wheel(event), { passive: false });
    box.addEventListener("pointerdown", (event) => this.#dragStart(event));
  }

  /** A new image on screen: shown whole. */
  attach(image) {
    this.image = image;
    this.reset();
  }

  reset() {
    this.#set(1, 0, 0);
  }

  /** How much bigger than on screen at ``scale`` 1 (object-fit: contain) the image really is. */
  #oneToOne() {
    const { naturalWidth: width, naturalHeight: height } = this.image ?? {};
    if (!width || !height) return 1;
    return 1 / Math.min(this.box.clientWidth / width, this.box.clientHeight / height);
  }

  toggle() {
    if (!this.image) return;
    if (this.scale !== 1) {
      this.reset();
      return;
    }
    const scale = this.#oneToOne();
    const { clientWidth: width, clientHeight: height } = this.box;
    // Centred: the middle of the image stays in the middle of the box.
    this.#set(scale, (width - width * scale) / 2, (height - height * scale) / 2);
  }

  get level() {
    return this.scale === 1 ? "whole" : `${Math.round((100 * this.scale) / this.#oneToOne())}%`;
  }

  #set(scale, x, y) {
    const { clientWidth: width, clientHeight: height } = this.box;
    this.scale = scale;
    // Zoomed in, the image always covers the box; zoomed out below it, it stays centred.
    this.x = scale >= 1 ? Math.min(0, Math.max(width - width * scale, x)) : (width - width * scale) / 2;
    this.y = scale >= 1 ? Math.min(0, Math.max(height - height * scale, y)) : (height - height * scale) / 2;
    if (this.image) {
      this.image.style.transform =
        scale === 1 ? "" : `translate(${this.x}px, ${this.y}px) scale(${scale})`;
    }
    this.box.dataset.zoomed = scale === 1 ? "false" : "true";
    this.onChange(this.level);
  }

  #wheel(event) {
    if (!this.image) return;
    event.preventDefault();
    const rect = this.box.getBoundingClientRect();
    const [px, py] = [event.clientX - rect.left, event.clientY - rect.top];
    const scale = Math.min(MAX_SCALE, Math.max(1, this.scale * Math.exp(-event.deltaY * 0.0015)));
    // The image point under the pointer stays under it.
    const ratio = scale / this.scale;
    this.#set(scale, px - (px - this.x) * ratio, py - (py - this.y) * ratio);
  }

  #dragStart(event) {
    if (!this.image || this.scale === 1 || event.button !== 0) return;
    event.preventDefault();
    const start = { x: event.clientX - this.x, y: event.clientY - this.y };
    this.box.setPointerCapture(event.pointerId);
    const move = (moved) => this.#set(this.scale, moved.clientX - start.x, moved.clientY - start.y);
    const end = () => {
      this.box.removeEventListener("pointermove", move);
      this.box.removeEventListener("pointerup", end);
      this.box.removeEventListener("pointercancel", end);
    };
    this.box.addEventListener("pointermove", move);
    this.box.addEventListener("pointerup", end);
    this.box.addEventListener("pointercancel", end);
  }
}
