#version 330 core
// Any scene object under a pinhole camera (docs/SCENES.md), one instance per pose, each
// drawn into its own tile of a one-column atlas one tile wide: tile k covers GL rows
// [k S, (k + 1) S), counted up from the bottom, so where a tile lies never depends on the batch.
// Frames: object frame; camera frame x right, y down, z forward. x_cam = R x_obj + t.
// Projection: u = fx x/z + cx, v = fy y/z + cy, pixels inside the tile, y down.
//
// Exactness: the perspective division happens here, and (u, v) are snapped to the
// rasterizer's 1/256 px grid before the tile's integer offset is added; the viewport's sides
// are powers of two (the target itself is S wide: what lies past it is discarded). Every
// window coordinate and sample position is therefore the same, relative to its tile, whichever
// tile a pose lands in, and a pose's tile depends only on its place in the batch. (llvmpipe
// interpolates attributes from absolute window positions in floating point, so a pose drawn
// in another tile can still differ in a few pixels of curved or marked surfaces by rounding.)
// gl_Position.w is 1, and attributes are interpolated perspective-correctly by hand: the
// vertex passes a/z and 1/z (both affine in screen space) and the fragment divides.

in vec3 in_position;     // object frame
in vec3 in_normal;       // unit, object frame

in mat3 in_rotation;     // numpy R, row-major == GLSL column-major R^T: p * in_rotation == R p
in vec3 in_translation;  // t, camera frame, object units

uniform vec2 u_focal;      // fx, fy, px
uniform vec2 u_principal;  // cx, cy, px (S/2, S/2)
uniform vec2 u_depth_range;  // near, far camera z mapped to the depth buffer's [-1, 1]
uniform float u_tile;      // tile side, px (the image size)
uniform vec2 u_target;     // viewport size, px (powers of two)

noperspective out float v_inv_z;          // 1 / camera z
noperspective out vec3 v_position_over_z; // object frame / z
noperspective out vec3 v_normal_obj_over_z;
noperspective out vec3 v_normal_cam_over_z;
out float gl_ClipDistance[4];

const float SUBPIXELS = 256.0;

vec2 snap(vec2 p) {
    return floor(p * SUBPIXELS + 0.5) / SUBPIXELS;
}

void main() {
    vec3 cam = in_position * in_rotation + in_translation;  // cam.z >= d - 1 > 0: the camera is outside
    float inv_z = 1.0 / cam.z;
    vec2 pixel = snap(vec2(u_focal.x * cam.x, u_focal.y * cam.y) * inv_z + u_principal);  // in the tile, y down
    float near = u_depth_range.x;
    float far = u_depth_range.y;
    // Tile k's top edge lies at GL row (k + 1) S; image rows run down from it.
    float row_up = float(gl_InstanceID + 1) * u_tile - pixel.y;
    float depth = (far + near) / (far - near) - 2.0 * far * near / (far - near) * inv_z;  // affine in 1/z
    gl_Position = vec4(pixel.x / u_target.x * 2.0 - 1.0, row_up / u_target.y * 2.0 - 1.0, depth, 1.0);
    // Keep every pose inside its own tile: 0 <= u <= S and 0 <= v <= S (enabled only when a
    // pose's bounding ball could leave its tile).
    gl_ClipDistance[0] = pixel.x;
    gl_ClipDistance[1] = u_tile - pixel.x;
    gl_ClipDistance[2] = pixel.y;
    gl_ClipDistance[3] = u_tile - pixel.y;
    v_inv_z = inv_z;
    v_position_over_z = in_position * inv_z;
    v_normal_obj_over_z = in_normal * inv_z;
    v_normal_cam_over_z = (in_normal * in_rotation) * inv_z;
}
