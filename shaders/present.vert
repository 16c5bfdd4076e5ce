#version 330 core
// Present one rendered tile in a window: a quad over the whole viewport, no vertex buffers.
// The viewport is exactly the tile's size, so with nearest sampling each texel lands on
// exactly one pixel and the window shows the renderer's bytes unchanged.

uniform vec2 u_uv_min;  // texture coordinates of the tile's bottom-left corner
uniform vec2 u_uv_max;  // ... and of its top-right corner

out vec2 v_uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));  // triangle strip
    v_uv = mix(u_uv_min, u_uv_max, corner);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
