#version 330 core
// One instance of a scene of several objects under a pinhole camera of any K (docs/SCENES.md),
// drawn into a canvas: the W x H image itself, or the image with a border of u_offset px on
// every side (the extended canvas of whole silhouettes). One draw call per instance.
// Frames: object frame; camera frame x right, y down, z forward. x_cam = R x_obj + t.
// Projection: u = fx x/z + cx, v = fy y/z + cy, image pixels, y down.
//
// Exactness, as scene.vert: (u, v) are snapped to the rasterizer's 1/256 px grid before the
// canvas's integer offset is added, and the viewport's sides are powers of two (u_viewport),
// so every window coordinate is the same, up to the integer offset, in the image and in the
// extended canvas; a pass's coverage of an instance is the other's shifted by whole pixels.
// gl_Position.w is 1, attributes are interpolated perspective-correctly by hand (a/z and 1/z).

in vec3 in_position;     // object frame
in vec3 in_normal;       // unit, object frame

uniform mat3 u_rotation;     // R^T as GLSL reads numpy's row-major R: p * u_rotation == R p
uniform vec3 u_translation;  // t, camera frame, object units
uniform vec2 u_focal;        // fx, fy, px
uniform vec2 u_principal;    // cx, cy, px
uniform vec2 u_depth_range;  // near, far camera z mapped to the depth buffer's [-1, 1]
uniform vec2 u_offset;       // where image pixel (0, 0) lies in the canvas, px (whole numbers)
uniform float u_canvas_rows; // the canvas's height, px: canvas row r lies at window row rows - r
uniform vec2 u_viewport;     // viewport size, px (powers of two)

noperspective out float v_inv_z;
noperspective out vec3 v_position_over_z;
noperspective out vec3 v_normal_obj_over_z;
noperspective out vec3 v_normal_cam_over_z;

const float SUBPIXELS = 256.0;

vec2 snap(vec2 p) {
    return floor(p * SUBPIXELS + 0.5) / SUBPIXELS;
}

void main() {
    vec3 cam = in_position * u_rotation + u_translation;  // cam.z > 0: the camera is outside every ball
    float inv_z = 1.0 / cam.z;
    vec2 pixel = snap(vec2(u_focal.x * cam.x, u_focal.y * cam.y) * inv_z + u_principal) + u_offset;
    float near = u_depth_range.x;
    float far = u_depth_range.y;
    float depth = (far + near) / (far - near) - 2.0 * far * near / (far - near) * inv_z;
    gl_Position = vec4(pixel.x / u_viewport.x * 2.0 - 1.0, (u_canvas_rows - pixel.y) / u_viewport.y * 2.0 - 1.0, depth, 1.0);
    v_inv_z = inv_z;
    v_position_over_z = in_position * inv_z;
    v_normal_obj_over_z = in_normal * inv_z;
    v_normal_cam_over_z = (in_normal * u_rotation) * inv_z;
}
