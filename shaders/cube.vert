#version 330 core
// Instanced cLPR cube: one instance per pose, each drawn into its own atlas tile.
// Frames: the cube frame and the 256 canvas are in pixels, x right, y down, z away from
// the viewer. A pose maps a corner p (row vector) to q = p * M + t (docs/CLPR.md,
// gpu_render/scene/plan.py).
//
// Exactness: positions are snapped to the rasterizer's 1/256 px grid inside the tile, and the
// target's sides are powers of two, so every window coordinate below is computed without
// rounding. A pose therefore rasterizes identically in every tile of every batch.

// Per vertex (static mesh built by gpu_render/render/clpr_vertices.py)
in vec3 in_node;     // the corner this vertex sits on, cube frame, canvas px
in vec3 in_color;    // RGB in [0, 1]
in vec2 in_corner;   // dot quads: unit quad corner in [-1, 1]^2; faces: (0, 0)
in int in_gate;      // bit of the pose's visibility mask that gates this primitive
in int in_is_dot;    // 1 for dot quads, 0 for faces

// Per instance (one pose)
in mat3 in_matrix;       // the numpy row-major M for row vectors == GLSL column-major for M^T
in vec3 in_translation;  // canvas px
in int in_mask;          // bits 0-5: faces visible, bits 8-15: nodes visible

uniform float u_scale;       // image size / 256
uniform float u_dot_radius;  // dot radius at this size, px
uniform int u_columns;       // tiles per atlas row
uniform float u_tile;        // tile side in px (the image size)
uniform vec2 u_target;       // viewport size in px (powers of two for exactness)

out vec3 v_color;
flat out vec2 v_centre;      // dot centre in window coordinates (y up), px
flat out int v_is_dot;

const float SUBPIXELS = 256.0;

vec2 snap(vec2 p) {
    return floor(p * SUBPIXELS + 0.5) / SUBPIXELS;
}

void main() {
    // GLSL's in_matrix * p sums the numpy rows weighted by p: exactly p @ M.
    vec3 q = in_matrix * in_node + in_translation;
    vec2 pixel = snap(q.xy * u_scale);        // px inside the tile, y down
    float depth = q.z / 256.0;                // in (-0.5, 0.5) for this cube
    int tile = gl_InstanceID;
    vec2 origin = vec2(float(tile % u_columns), float(tile / u_columns)) * u_tile;
    vec2 centre = origin + pixel;             // px in the target, y down
    v_centre = vec2(centre.x, u_target.y - centre.y);
    vec2 target = centre;
    if (in_is_dot == 1) {
        target += in_corner * (u_dot_radius + 1.0);  // a quad with a margin around the disc
        depth = -0.99;                               // dots lie over every face
    }
    // Upright in GL (y up): row 0 of the image is the top row of the target.
    gl_Position = vec4(target.x / u_target.x * 2.0 - 1.0, 1.0 - target.y / u_target.y * 2.0, depth, 1.0);
    if (((in_mask >> in_gate) & 1) == 0) {
        gl_Position = vec4(-2.0, -2.0, 0.0, 1.0); // invisible: collapse outside the clip volume
    }
    v_color = in_color;
    v_is_dot = in_is_dot;
}
